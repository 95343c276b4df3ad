"""What other languages see of the event store: subjects, headers, plain JSON bodies."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

import nats
import pytest
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from nats.aio.msg import Msg

from bus.embedded import EmbeddedNatsServer
from tests.conformance.support import delete_stream, unique_stream

pytestmark = pytest.mark.nats


class Account(Aggregate):
    @event("Opened")
    def __init__(self, owner: str, limit: Decimal, opened_at: datetime) -> None:
        self.owner = owner
        self.limit = limit
        self.opened_at = opened_at
        self.tags: tuple[str, ...] = ()
        self.linked: list[uuid.UUID] = []

    @event("Linked")
    def link(self, other: uuid.UUID, tags: tuple[str, ...], ratio: float) -> None:
        self.linked.append(other)
        self.tags = tags
        self.ratio = ratio


class Accounts(Application[uuid.UUID]):
    is_snapshotting_enabled = True


@pytest.fixture
def app(nats_server: EmbeddedNatsServer) -> Iterator[Accounts]:
    stream = unique_stream()
    env = {
        "PERSISTENCE_MODULE": "bus.eventstore",
        "NATS_URL": nats_server.url,
        "NATS_STREAM": stream,
        "NATS_SUBJECT_PREFIX": "wire.risk",
    }
    with Accounts(env=env) as application:
        yield application
    delete_stream(nats_server.url, stream)


async def read_all(url: str, subject: str) -> list[Msg]:
    nc = await nats.connect(url)
    try:
        sub = await nc.jetstream().subscribe(subject, ordered_consumer=True)
        msgs = []
        while True:
            try:
                msgs.append(await sub.next_msg(timeout=0.5))
            except nats.errors.TimeoutError:
                return msgs
    finally:
        await nc.close()


def opened_at() -> datetime:
    return datetime.fromisoformat("2026-03-01T08:30:00.123456+00:00")


async def test_events_when_saved_then_bodies_are_plain_json_with_topic_and_version_in_headers(
    app: Accounts, nats_server: EmbeddedNatsServer
) -> None:
    account = Account(owner="alice", limit=Decimal("1250.50"), opened_at=opened_at())
    other = uuid.UUID("12345678-1234-5678-1234-567812345678")
    account.link(other, tags=("a", "b"), ratio=0.25)
    app.save(account)

    msgs = await read_all(nats_server.url, "wire.risk.events.>")

    assert [m.subject for m in msgs] == [
        f"wire.risk.events.{account.id}.1.Opened",
        f"wire.risk.events.{account.id}.2.Linked",
    ]
    opened: dict[str, Any] = json.loads(msgs[0].data)
    assert opened["owner"] == "alice"
    assert opened["limit"] == 1250.5
    assert opened["opened_at"] == "2026-03-01T08:30:00.123456+00:00"
    assert "_type_" not in msgs[0].data.decode()
    assert datetime.fromisoformat(opened["timestamp"]).tzinfo is not None
    linked = json.loads(msgs[1].data)
    assert linked == {
        "timestamp": linked["timestamp"],
        "other": "12345678-1234-5678-1234-567812345678",
        "tags": ["a", "b"],
        "ratio": 0.25,
    }
    headers = msgs[1].headers or {}
    assert headers["Es-Topic"].endswith("test_eventstore_wire:Account.Linked")
    assert headers["Es-Originator-Version"] == "2"
    assert headers["Es-Originator-Id"] == str(account.id)


async def test_events_when_read_back_then_python_types_are_restored(app: Accounts) -> None:
    account = Account(owner="bob", limit=Decimal("0.10"), opened_at=opened_at())
    account.link(uuid.uuid4(), tags=("x",), ratio=1.5)
    app.save(account)

    copy: Account = app.repository.get(account.id)

    assert copy.limit == Decimal("0.10")
    assert isinstance(copy.limit, Decimal)
    assert str(copy.limit) == "0.10"
    assert copy.opened_at == opened_at()
    assert copy.linked == account.linked
    assert isinstance(copy.linked[0], uuid.UUID)
    assert copy.tags == ("x",)
    assert copy.ratio == 1.5
    assert isinstance(copy.ratio, float)


async def test_snapshots_when_taken_then_live_in_their_own_subjects(
    app: Accounts, nats_server: EmbeddedNatsServer
) -> None:
    account = Account(owner="carol", limit=Decimal("5"), opened_at=opened_at())
    account.link(uuid.uuid4(), tags=(), ratio=0.5)
    app.save(account)
    app.take_snapshot(account.id)

    snapshots = await read_all(nats_server.url, "wire.risk.snapshots.>")
    events = await read_all(nats_server.url, "wire.risk.events.>")

    assert [m.subject for m in snapshots] == [f"wire.risk.snapshots.{account.id}.2.Snapshot"]
    assert len(events) == 2
    state = json.loads(snapshots[0].data)["state"]
    assert state["owner"] == "carol"
    assert state["limit"] == 5
    restored: Account = app.repository.get(account.id)
    assert restored.limit == Decimal("5")
    assert restored.opened_at == opened_at()
    assert restored.version == 2
