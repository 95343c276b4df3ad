"""The JetStream event store when its server goes away and comes back."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator

import nats
import pytest
from eventsourcing.persistence import OperationalError, StoredEvent

from bus.embedded import EmbeddedNatsServer
from bus.eventstore.recorders import JetStreamApplicationRecorder
from bus.eventstore.runtime import Runtime
from bus.eventstore.settings import Settings
from tests.support import eventually_sync

pytestmark = [pytest.mark.nats, pytest.mark.slow]

TIMEOUT = 1.0


@pytest.fixture
def recorder(fresh_nats_server: EmbeddedNatsServer) -> Iterator[JetStreamApplicationRecorder]:
    settings = Settings(
        url=fresh_nats_server.url, stream="FAULTS", prefix="faults.app", timeout=TIMEOUT
    )
    yield JetStreamApplicationRecorder(settings)
    Runtime.discard(fresh_nats_server.url)


def event(originator_id: uuid.UUID, version: int) -> StoredEvent:
    return StoredEvent(originator_id, version, "tests:Happened", b'{"n":%d}' % version)


def test_calls_when_server_is_gone_then_fail_within_timeout_with_operational_error(
    fresh_nats_server: EmbeddedNatsServer, recorder: JetStreamApplicationRecorder
) -> None:
    originator = uuid.uuid4()
    recorder.insert_events([event(originator, 1)])
    fresh_nats_server.stop()

    calls = {
        "insert one": lambda: recorder.insert_events([event(originator, 2)]),
        "insert batch": lambda: recorder.insert_events(
            [event(originator, 2), event(originator, 3)]
        ),
        "select events": lambda: recorder.select_events(originator),
        "select notifications": lambda: recorder.select_notifications(None, 10),
        "max notification id": recorder.max_notification_id,
    }
    for name, call in calls.items():
        started = time.monotonic()
        with pytest.raises(OperationalError):
            call()
        elapsed = time.monotonic() - started
        assert elapsed < TIMEOUT + 2.0, f"{name} took {elapsed:.1f}s"


def test_calls_when_server_returns_then_work_again_with_nothing_lost(
    fresh_nats_server: EmbeddedNatsServer, recorder: JetStreamApplicationRecorder
) -> None:
    originator = uuid.uuid4()
    assert recorder.insert_events([event(originator, 1), event(originator, 2)]) == [1, 2]
    fresh_nats_server.stop()
    with pytest.raises(OperationalError):
        recorder.insert_events([event(originator, 3)])
    fresh_nats_server.start()

    ids = eventually_sync(
        lambda: recorder.insert_events([event(originator, 3), event(originator, 4)]),
        timeout=15,
        message="insert after restart",
    )
    assert ids == [3, 4]
    assert [e.originator_version for e in recorder.select_events(originator)] == [1, 2, 3, 4]
    assert recorder.max_notification_id() == 4


def test_batch_when_server_dies_before_commit_then_nothing_of_it_is_visible(
    fresh_nats_server: EmbeddedNatsServer, recorder: JetStreamApplicationRecorder
) -> None:
    originator = uuid.uuid4()
    recorder.insert_events([event(originator, 1)])
    subject = f"faults.app.events.{originator}"

    async def publish_half_a_batch() -> None:
        nc = await nats.connect(fresh_nats_server.url)
        for n in (2, 3, 4):
            headers = {"Nats-Batch-Id": "half", "Nats-Batch-Sequence": str(n - 1)}
            await nc.publish(f"{subject}.{n}.Happened", b"{}", headers=headers)
        await nc.flush()
        await nc.close()

    asyncio.run(publish_half_a_batch())
    assert [e.originator_version for e in recorder.select_events(originator)] == [1]
    fresh_nats_server.kill()
    fresh_nats_server.start()

    versions = eventually_sync(
        lambda: [e.originator_version for e in recorder.select_events(originator)],
        timeout=15,
        message="read after restart",
    )
    assert versions == [1]
    assert recorder.max_notification_id() == 1
    assert recorder.insert_events([event(originator, 2)]) == [2]
