"""The projector over a real nats-server, the real engine, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
from nats.aio.client import Client

from bus import subjects
from bus.codec import encode
from bus.embedded import EmbeddedNatsServer
from bus.schemas import AgentHeartbeat, AgentLifecycleChanged, PositionClosed, PositionOpened
from bus.schemas.risk import RiskCheckReply, RiskCheckRequest
from bus.topology import ensure_topology
from projections.db import open_database
from tests.integration.engine_support import (
    FactFeed,
    connect_js,
    load,
    running_engine,
    settled,
    write_config,
)
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
"""


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'views.sqlite'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
async def server(
    fresh_nats_server: EmbeddedNatsServer,
) -> AsyncIterator[tuple[str, Client, FactFeed]]:
    nc, js = await connect_js(fresh_nats_server.url)
    await ensure_topology(js)
    try:
        yield fresh_nats_server.url, nc, FactFeed(js)
    finally:
        await nc.close()


async def query(nc: Client, endpoint: str, **body: Any) -> Any:
    reply = await nc.request(subjects.query(endpoint), json.dumps(body).encode(), timeout=5)
    assert "Nats-Service-Error-Code" not in (reply.headers or {}), reply.headers
    return json.loads(reply.data)


def msc(at: datetime) -> int:
    return int(at.timestamp() * 1000)


async def publish_agent(feed: FactFeed, account_id: str, at: datetime, connected: bool) -> None:
    await feed.publish(
        subjects.lifecycle(account_id),
        AgentLifecycleChanged(account_id=account_id, agent_id="a", state="RUNNING", time=at),
        f"life-{at.isoformat()}",
    )
    await feed.publish(
        subjects.health(account_id),
        AgentHeartbeat(
            account_id=account_id,
            agent_id="a",
            pid=1,
            terminal_connected=connected,
            breaker_state="closed",
            terminal_latency_ms=3.0,
            last_tick_age_s={"EURUSD": 0.4},
            time=at,
        ),
        f"beat-{at.isoformat()}",
    )


def opened(identifier: int, at: datetime, **fields: Any) -> PositionOpened:
    base: dict[str, Any] = {
        "account_id": "acc-1",
        "ticket": identifier,
        "identifier": identifier,
        "symbol": "EURUSD",
        "side": "buy",
        "volume": 0.1,
        "price_open": 1.0851,
        "price_current": 1.0851,
        "magic": 424242,
        "reason": "expert",
        "time_msc": msc(at),
    }
    return PositionOpened(**(base | fields))


async def test_projector_when_trading_day_runs_then_every_view_answers(
    server: tuple[str, Client, FactFeed], tmp_path: Path, db_url: str
) -> None:
    url, nc, feed = server
    config = load(write_config(tmp_path, ACCOUNTS))
    async with running_engine(url, config) as engine:
        await publish_agent(feed, "acc-1", datetime.now(UTC), connected=True)  # fresh
        last = await feed.snapshot("acc-1", 100_000, 100_000)
        await settled(engine, last)
        await feed.tick("acc-1", "EURUSD", 1.0850, 1.0851, datetime.now(UTC))
        check = RiskCheckRequest(account_id="acc-1", symbol="EURUSD", side="buy", volume=0.1,
                                 price=1.0851, client_order_id="c-1")  # fmt: skip
        reply = await nc.request(subjects.risk_check("acc-1"), encode(check), timeout=5)
        assert msgspec.json.decode(reply.data, type=RiskCheckReply).approved
        at = feed.advance(1)
        await feed.publish(subjects.position("acc-1", "opened"),
                           opened(11, at, comment="c-1"), "o11")  # fmt: skip
        await feed.publish(subjects.position("acc-1", "opened"),
                           opened(12, at, reason="mobile", magic=0), "o12")  # fmt: skip
        at = feed.advance(30)
        fields = msgspec.structs.asdict(opened(12, at, reason="mobile", magic=0, profit=10.0))
        close = PositionClosed(
            **fields, close_price=1.0861, deal_reason="tp", close_time_msc=msc(at)
        )
        await feed.publish(subjects.position("acc-1", "closed"), close, "c12")
        at = feed.advance(30)
        last = await feed.snapshot("acc-1", 100_010, 97_000, at=at)
        await feed.snapshot("acc-x", 1, 1, at=at)  # not configured
        await nc.jetstream().publish(subjects.account_snapshot("acc-1"), b"{not json")
        await settled(engine, last)
    async with running_projector(url, config, db_url) as process:
        await caught_up(process)
        status = await query(nc, "status", account="acc-1")
        [acc] = status["accounts"]
        assert acc["account"]["equity"] == 97_000
        assert acc["account"]["balance"] == 100_010
        assert acc["lifecycle"]["state"] == "RUNNING"
        assert acc["heartbeat"]["terminal_latency_ms"] == 3.0
        assert acc["trading"]["state"] == "ACTIVE"
        daily = acc["drawdown"]["daily"]
        assert daily["reference"] == 100_000
        assert daily["floor"] == 95_000
        assert daily["value"] == 3_000
        assert daily["percent_used"] == 60.0
        assert acc["drawdown"]["max"]["floor"] == 90_000
        assert acc["positions"] == {"open": 1, "lots": 0.1, "closed": 1, "realized": 10.0}
        assert acc["counts"]["unapplied_by_reason"] == {"undecodable": 1}
        assert acc["counts"]["decisions"] >= 3
        assert acc["last_decision"]["type"]
        assert status["projector"]["unknown_accounts"] == {"acc-x": 1}

        open_ = await query(nc, "positions", account="acc-1")
        assert [p["identifier"] for p in open_["positions"]] == [11]
        closed = await query(nc, "positions", account="acc-1", state="closed")
        [gone] = closed["positions"]
        assert gone["closed"]["reason"] == "tp"
        assert gone["closed"]["realized"] == 10.0

        recon = await query(nc, "reconciliation", account="acc-1")
        by_id = {i["item_id"]: i for i in recon["items"]}
        assert by_id["o:c-1"]["status"] == "matched"
        assert by_id["o:c-1"]["position"]["identifier"] == 11
        assert by_id["p:12"]["status"] == "closed"
        assert [h["status"] for h in by_id["p:12"]["history"]] == ["manual", "closed"]

        risk = await query(nc, "risk", account="acc-1")
        [view] = risk["accounts"]
        assert float(view["rules"]["daily_loss"]["limit_percent"]) == 5.0
        assert view["limits"]["daily"]["floor"] == 95_000
        assert "AccountRegistered" in [e["type"] for e in risk["events"]]

        equity = await query(nc, "equity", account="acc-1")
        assert equity["bars"][0]["equity"]["open"] == 100_000
        assert equity["bars"][-1]["equity"]["close"] == 97_000

        kv = await nc.jetstream().key_value(subjects.KV_STATUS)
        entry = await kv.get("acc-1")
        assert json.loads(entry.value or b"{}")["account"]["equity"] == 97_000


async def test_query_when_account_unknown_or_request_bad_then_micro_error_headers(
    server: tuple[str, Client, FactFeed], tmp_path: Path
) -> None:
    url, nc, _ = server
    config = load(write_config(tmp_path, ACCOUNTS))
    async with running_projector(url, config, f"sqlite:///{tmp_path / 'v.sqlite'}"):
        reply = await nc.request(subjects.query("status"), b'{"account": "nope"}', timeout=5)
        assert reply.headers is not None
        assert reply.headers["Nats-Service-Error-Code"] == "404"
        assert json.loads(reply.data)["code"] == 404
        bad = await nc.request(subjects.query("positions"), b'{"state": "sideways"}', timeout=5)
        assert bad.headers is not None
        assert bad.headers["Nats-Service-Error-Code"] == "400"
        everything = await nc.request(subjects.query("status"), b"", timeout=5)
        assert json.loads(everything.data)["accounts"] == []


async def test_kv_when_one_fact_committed_then_bucket_shows_it_without_a_full_batch(
    server: tuple[str, Client, FactFeed], tmp_path: Path
) -> None:
    url, nc, feed = server
    config = load(write_config(tmp_path, ACCOUNTS))
    async with running_projector(url, config, f"sqlite:///{tmp_path / 'v.sqlite'}"):
        kv = await nc.jetstream().key_value(subjects.KV_STATUS)
        watcher = await kv.watch("acc-1")
        await feed.snapshot("acc-1", 100_000, 99_123.45, at=datetime.now(UTC))

        # One fact never fills a batch: it is committed because both logs are caught up, or
        # at the latest 0.1 s later (the flush interval). 20 s is the margin a 2-core machine
        # running other suites beside this one needs; a projector that waits for a full
        # batch never shows it.
        async def mirrored() -> None:
            while True:
                update = await watcher.updates(timeout=20)  # type: ignore[no-untyped-call]
                if update is not None and update.value:
                    doc = json.loads(update.value)
                    if (doc.get("account") or {}).get("equity") == 99_123.45:
                        return

        await asyncio.wait_for(mirrored(), timeout=20)
        await watcher.stop()  # type: ignore[no-untyped-call]


async def test_status_when_heartbeats_stop_then_unhealthy_and_items_unknown(
    server: tuple[str, Client, FactFeed], tmp_path: Path
) -> None:
    url, nc, feed = server
    config = load(write_config(tmp_path, ACCOUNTS))
    long_ago = datetime.now(UTC) - timedelta(minutes=5)
    await publish_agent(feed, "acc-1", long_ago, connected=True)
    await feed.publish(subjects.position("acc-1", "opened"), opened(5, long_ago), "o5")
    db_url = f"sqlite:///{tmp_path / 'v.sqlite'}"
    async with running_projector(url, config, db_url) as process:
        await caught_up(process)
        [acc] = (await query(nc, "status", account="acc-1"))["accounts"]
        assert acc["health"]["status"] == "UNHEALTHY"
        assert acc["health"]["reasons"][0] == "heartbeat_missed"
        [item] = (await query(nc, "reconciliation", account="acc-1"))["items"]
        assert item["status"] == "unknown"
        assert item["reasons"] == [{"reason": "agent_stale", "last_known": "manual"}]
    db = open_database(db_url)
    [(stored,)] = db.query("SELECT status FROM proj_reconciliation")
    assert stored == "manual"  # the stored view stays a function of the log
    db.close()
