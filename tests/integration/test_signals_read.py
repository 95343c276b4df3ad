"""The signals read side over a real nats-server, the projector, SQLite and PostgreSQL.

Signal decisions are published on RISK and the agent's answers on MT5 as the engine and
the agent write them; the projector builds `proj_signals` and the reconciliation join, the
HTTP API reads them, and a rebuild from the log gives the same rows.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client
from nats.js.client import JetStreamContext

from bus import subjects
from bus.embedded import EmbeddedNatsServer
from bus.schemas import OrderExecuted, OrderRejected
from bus.topology import ensure_topology
from domain.signals import signal_command_id
from mtq.http import ApiSettings
from projections.db import open_database
from projections.settings import settings_for
from tests.integration.engine_support import FactFeed, connect_js, load, write_config
from tests.integration.test_api_support import running_api
from tests.integration.test_projector import opened, publish_agent
from tests.pg_support import (  # noqa: F401 - fixtures
    caught_up,
    postgres_server_url,
    postgres_url,
    running_projector,
)

pytestmark = [pytest.mark.nats, pytest.mark.postgres]

ACCOUNTS = """\
  - id: acc-1
    terminal: {simulator: {strategy: {magic: 424242}}}
    risk:
      initial_capital: 100000
      daily_loss: {limit_percent: 5, anchor: balance}
      max_loss: {kind: static, limit_percent: 10}
  - id: acc-2
    terminal: {simulator: {strategy: {magic: 424242}}}
    risk:
      initial_capital: 100000
      daily_loss: {limit_percent: 5, anchor: balance}
      max_loss: {kind: static, limit_percent: 10}
"""


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'views.sqlite'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
async def bus(fresh_nats_server: EmbeddedNatsServer) -> AsyncIterator[tuple[str, Client, FactFeed]]:
    nc, js = await connect_js(fresh_nats_server.url)
    await ensure_topology(js)
    try:
        yield fresh_nats_server.url, nc, FactFeed(js)
    finally:
        await nc.close()


class Engine:
    """Publishes decisions on RISK as the engine records them (each names its fact's seq)."""

    def __init__(self, js: JetStreamContext) -> None:
        self.js = js
        self.version = 0

    async def decide(self, kind: str, account_id: str, seq: int, at: datetime, **data: Any) -> None:
        self.version += 1
        doc = {"account_id": account_id, "seq": seq, "timestamp": at.isoformat(), **data}
        await self.js.publish(
            subjects.risk_events(account_id, self.version, kind), json.dumps(doc).encode()
        )

    async def signal(
        self, signal_id: str, account_id: str, seq: int, at: datetime, *, manual: bool
    ) -> str:
        ident = {"signal_id": signal_id, "approval_id": f"{signal_id}:{account_id}"}
        command = signal_command_id(signal_id, account_id)
        await self.decide(
            "SignalReceived", account_id, seq, at, signal_id=signal_id, strategy="demo",
            symbol="EURUSD", side="buy", order_type="market", price=None, volume="0.1",
            risk_percent=None, sl="1.08", tp="1.09", comment="", received_at=at.isoformat(),
            expires_at=(at + timedelta(seconds=60)).isoformat(),
            approval="manual" if manual else "auto", actor="api:bot",
        )  # fmt: skip
        await self.decide(
            "SignalSized", account_id, seq, at, signal_id=signal_id, volume="0.1",
            sizing="fixed", basis={},
        )  # fmt: skip
        if manual:
            await self.decide("ApprovalRequested", account_id, seq, at, **ident)
            return command
        await self.decide("Approved", account_id, seq, at, **ident, actor="auto", reason="auto")
        request = {
            "client_order_id": command, "symbol": "EURUSD", "side": "buy", "volume": 0.1,
            "price": 1.0851, "sl": 1.08, "tp": 1.09,
        }  # fmt: skip
        await self.decide("OrderApproved", account_id, seq, at, request=request, reasons=[])
        await self.decide(
            "OrderPlaced", account_id, seq, at, **ident, command_id=command, symbol="EURUSD",
            side="buy", volume="0.1", order_type="market", price=None, sl="1.08", tp="1.09",
        )  # fmt: skip
        return command


async def test_signals_when_projected_then_status_per_account_approvals_and_reconciliation(
    bus: tuple[str, Client, FactFeed], tmp_path: Path, db_url: str
) -> None:
    url, nc, feed = bus
    engine = Engine(nc.jetstream())
    config = load(write_config(tmp_path, ACCOUNTS))
    now = datetime.now(UTC).replace(microsecond=0)
    for account_id in ("acc-1", "acc-2"):
        await publish_agent(feed, account_id, now, connected=True)
    seq = await feed.snapshot("acc-1", 100000, 100000, at=now)
    await engine.signal("wait-1", "acc-1", seq, now, manual=True)
    fan_1 = await engine.signal("fan-1", "acc-1", seq, now, manual=False)
    fan_2 = await engine.signal("fan-1", "acc-2", seq, now, manual=False)
    answer = now + timedelta(seconds=1)
    await feed.publish(
        subjects.order("acc-1", "executed"),
        OrderExecuted(account_id="acc-1", command_id=fan_1, ticket=31, retcode=10009, deal=41,
                      position=21, volume=0.1, price=1.0851, time=answer),
        "x1",
    )  # fmt: skip
    await feed.publish(
        subjects.position("acc-1", "opened"),
        opened(21, answer, comment=f"mtq-{fan_1[:8]}", sl=1.08, tp=1.09),
        "p21",
    )
    await feed.publish(
        subjects.order("acc-2", "rejected"),
        OrderRejected(account_id="acc-2", command_id=fan_2, retcode=10018,
                      comment="Market closed", time=answer),
        "r2",
    )  # fmt: skip
    settings = settings_for(config)
    async with (
        running_projector(url, config, db_url) as process,
        running_api(ApiSettings(db_url=db_url, accounts=settings)) as api,
        api.client() as client,
    ):
        await caught_up(process)
        fan = (await client.get("/api/v1/signals/fan-1")).json()
        rows = {r["account_id"]: r for r in fan["accounts"]}
        assert sorted(rows) == ["acc-1", "acc-2"]
        assert (rows["acc-1"]["status"], rows["acc-1"]["mt5_position_id"]) == ("executed", 21)
        assert [h["status"] for h in rows["acc-1"]["history"]] == [
            "received", "approved", "sent", "executed",
        ]  # fmt: skip
        assert (rows["acc-2"]["status"], rows["acc-2"]["reason"]) == (
            "rejected",
            "10018 Market closed",
        )
        assert (await client.get("/api/v1/signals/nope")).status_code == 404

        pending = (await client.get("/api/v1/approvals", params={"status": "pending"})).json()
        assert [a["approval_id"] for a in pending["items"]] == ["wait-1:acc-1"]
        one = (await client.get("/api/v1/approvals/wait-1:acc-1")).json()
        assert (one["status"], one["signal_status"], one["actor"]) == ("pending", "received", None)
        assert (await client.get("/api/v1/approvals/wait-1:acc-9")).status_code == 404
        recent = (await client.get("/api/v1/signals")).json()["items"]
        assert [(s["signal_id"], len(s["accounts"])) for s in recent] == [
            ("fan-1", 2),
            ("wait-1", 1),
        ]
        page = (await client.get("/api/v1/approvals", params={"limit": 2})).json()
        rest = (
            await client.get(
                "/api/v1/approvals", params={"limit": 2, "cursor": page["next_cursor"]}
            )
        ).json()
        walked = [a["approval_id"] for a in page["items"] + rest["items"]]
        assert walked == ["fan-1:acc-1", "fan-1:acc-2", "wait-1:acc-1"]
        assert rest["next_cursor"] is None
        assert [a["status"] for a in page["items"]] == ["approved", "approved"]

        recon = (await client.get("/accounts/acc-1/reconciliation")).json()["items"]
        [item] = [i for i in recon if i["signal_id"] == "fan-1"]
        assert (item["status"], item["approval_id"], item["mt5_position_id"]) == (
            "matched",
            "fan-1:acc-1",
            21,
        )
        other = (await client.get("/accounts/acc-2/reconciliation")).json()["items"]
        [refused] = [i for i in other if i["signal_id"] == "fan-1"]
        assert refused["status"] == "rejected"
        assert refused["divergence_reason"] == "rejected by terminal: 10018 Market closed"

        later = now + timedelta(seconds=5)
        seq = await feed.snapshot("acc-1", 100000, 100000, at=later)
        await engine.decide(
            "Approved", "acc-1", seq, later, signal_id="wait-1", approval_id="wait-1:acc-1",
            actor="api:alice", reason="go",
        )  # fmt: skip
        await caught_up(process)
        one = (await client.get("/api/v1/approvals/wait-1:acc-1")).json()
        assert (one["actor"], one["reason"], one["signal_status"]) == (
            "api:alice",
            "go",
            "approved",
        )
        left = (await client.get("/api/v1/approvals", params={"status": "pending"})).json()
        assert left["items"] == []

    async with running_projector(url, config, db_url) as restarted:  # loads the view back
        await feed.publish(
            subjects.order("acc-1", "rejected"),
            OrderRejected(account_id="acc-1", command_id=fan_1, retcode=10021,
                          comment="No prices", time=answer + timedelta(seconds=1)),
            "late",
        )  # fmt: skip
        await caught_up(restarted)
    late = _doc(db_url, "fan-1", "acc-1")
    assert late["status"] == "executed"
    assert [n["event"] for n in late["notes"]] == ["OrderRejected"]

    live = _rows(db_url)
    rebuilt_url = f"sqlite:///{tmp_path / 'rebuilt.sqlite'}"
    async with running_projector(url, config, rebuilt_url) as again:
        await caught_up(again)
    assert _rows(rebuilt_url) == live
    assert len(live) == 3


def _rows(url: str) -> list[tuple[Any, ...]]:
    db = open_database(url)
    try:
        return db.query("SELECT * FROM proj_signals ORDER BY signal_id, account_id")
    finally:
        db.close()


def _doc(url: str, signal_id: str, account_id: str) -> dict[str, Any]:
    db = open_database(url)
    try:
        [(doc,)] = db.query(
            "SELECT doc FROM proj_signals WHERE signal_id = ? AND account_id = ?",
            [signal_id, account_id],
        )
    finally:
        db.close()
    found: dict[str, Any] = json.loads(doc)
    return found
