"""`mtq replay` as a real process over a real nats-server, the real engine and projector."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest

from bus import subjects
from bus.codec import encode
from bus.embedded import EmbeddedNatsServer
from bus.schemas import PositionClosed
from bus.schemas.query import PositionsQuery, RiskQuery, StatusQuery
from bus.schemas.risk import RiskCheckReply, RiskCheckRequest
from bus.topology import ensure_topology
from config import MtqConfig
from projections import queries
from projections.db import open_database
from projections.replay import ALL
from projections.settings import settings_for
from tests.integration.engine_support import (
    T0,
    FactFeed,
    connect_js,
    load,
    running_engine,
    settled,
    write_config,
)
from tests.integration.test_projector import ACCOUNTS, msc, opened, publish_agent
from tests.integration.test_supervisor_cli import mtq
from tests.pg_support import caught_up, running_projector

pytestmark = [pytest.mark.nats, pytest.mark.slow]

TWO_ACCOUNTS = (
    ACCOUNTS
    + """\
  - id: acc-2
    terminal: {simulator: {strategy: {magic: 424242}}}
    risk:
      initial_capital: 50000
      daily_loss: {limit_percent: 5, anchor: balance}
      max_loss: {kind: static, limit_percent: 10}
"""
)


def views_of(db_url: str, config: MtqConfig, account: str, at: datetime) -> dict[str, Any]:
    """What the projector's views answer for `account`, read as of `at`."""
    db = open_database(db_url)
    try:
        settings = settings_for(config)
        [status] = queries.status(db, StatusQuery(account=account), settings, now=at)
        positions = queries.positions(db, PositionsQuery(account=account, state="all", limit=ALL))
        [risk], events = queries.risk(db, RiskQuery(account=account, limit=ALL))
    finally:
        db.close()
    return {
        "status": status,
        "positions": positions,
        "risk": risk,
        "risk_events": msgspec.to_builtins(events),
    }


async def replay_at(url: str, cfg: Path, account: str, at: datetime) -> dict[str, Any]:
    code, out, err = await mtq(
        "replay", "--account", account, "--at", at.isoformat(), "--json",
        "--config", str(cfg), "--nats-url", url,
    )  # fmt: skip
    assert code == 0, err
    [line] = out.splitlines()
    shown: dict[str, Any] = json.loads(line)
    assert shown["at"] == at.isoformat()
    return {k: shown[k] for k in ("status", "positions", "risk", "risk_events")}


async def test_replay_at_when_asked_for_t_then_equals_what_the_projector_showed_at_t(
    fresh_nats_server: EmbeddedNatsServer, tmp_path: Path
) -> None:
    url = fresh_nats_server.url
    nc, js = await connect_js(url)
    await ensure_topology(js)
    feed = FactFeed(js)
    cfg = write_config(tmp_path, TWO_ACCOUNTS)
    config = load(cfg)
    db_url = f"sqlite:///{tmp_path / 'views.sqlite'}"
    try:
        async with (
            running_engine(url, config) as engine,
            running_projector(url, config, db_url) as projector,
        ):
            # --- up to T: an approved order filled, a manual trade closed at TP, -3% equity.
            # Times follow the wall clock, as a live agent's do: the engine stamps a request's
            # decision with the time it received it.
            feed.now = datetime.now(UTC) - timedelta(minutes=1)
            await publish_agent(feed, "acc-1", feed.now, connected=True)
            await publish_agent(feed, "acc-2", feed.now, connected=True)
            await feed.snapshot("acc-2", 50_000, 50_000)
            last = await feed.snapshot("acc-1", 100_000, 100_000)
            await settled(engine, last)
            await feed.tick("acc-1", "EURUSD", 1.0850, 1.0851, datetime.now(UTC))
            check = RiskCheckRequest(account_id="acc-1", symbol="EURUSD", side="buy",
                                     volume=0.1, price=1.0851, sl=1.0821,
                                     client_order_id="c-1")  # fmt: skip
            reply = await nc.request(subjects.risk_check("acc-1"), encode(check), timeout=5)
            assert msgspec.json.decode(reply.data, type=RiskCheckReply).approved
            feed.now = datetime.now(UTC)
            at = feed.advance(0.1)
            await feed.publish(subjects.position("acc-1", "opened"),
                               opened(11, at, comment="c-1", sl=1.0821), "o11")  # fmt: skip
            await feed.publish(subjects.position("acc-1", "opened"),
                               opened(12, at, reason="mobile", magic=0), "o12")  # fmt: skip
            await feed.snapshot("acc-2", 50_000, 49_900, at=at)
            at = feed.advance(0.2)
            fields = msgspec.structs.asdict(opened(12, at, reason="mobile", magic=0, profit=10.0))
            close = PositionClosed(
                **fields, close_price=1.0861, deal_reason="tp", close_time_msc=msc(at)
            )
            await feed.publish(subjects.position("acc-1", "closed"), close, "c12")
            at = feed.advance(0.2)
            last = await feed.snapshot("acc-1", 100_010, 97_000, at=at)
            await settled(engine, last)
            await caught_up(projector)
            t = at + timedelta(seconds=1)
            shown_at_t = views_of(db_url, config, "acc-1", t)

            # --- after T: a breach (liquidation, halt), another position, a heartbeat
            at = feed.advance(60)
            await publish_agent(feed, "acc-1", at, connected=True)
            await feed.publish(subjects.position("acc-1", "opened"), opened(13, at), "o13")
            last = await feed.snapshot("acc-1", 100_010, 94_000, at=at)
            await settled(engine, last)
            await caught_up(projector)
            end = at + timedelta(seconds=1)
            shown_at_end = views_of(db_url, config, "acc-1", end)

        assert shown_at_t != shown_at_end  # T is a point the views really passed
        assert shown_at_end["status"]["trading"]["state"] != "ACTIVE"
        assert shown_at_t["status"]["trading"]["state"] == "ACTIVE"
        assert await replay_at(url, cfg, "acc-1", t) == shown_at_t
        assert await replay_at(url, cfg, "acc-1", end) == shown_at_end
    finally:
        await nc.close()


async def test_replay_when_listing_then_facts_and_decisions_in_the_projectors_order(
    fresh_nats_server: EmbeddedNatsServer, tmp_path: Path
) -> None:
    url = fresh_nats_server.url
    nc, js = await connect_js(url)
    await ensure_topology(js)
    feed = FactFeed(js)
    cfg = write_config(tmp_path, TWO_ACCOUNTS)
    config = load(cfg)
    try:
        async with running_engine(url, config) as engine:
            await publish_agent(feed, "acc-1", T0, connected=True)
            await feed.snapshot("acc-2", 50_000, 50_000)
            await feed.snapshot("acc-1", 100_000, 100_000)
            at = feed.advance(60)
            last = await feed.snapshot("acc-1", 100_000, 94_000, at=at)
            await settled(engine, last)
        code, out, err = await mtq("replay", "--account", "acc-1", "--json", "--nats-url", url)
        assert code == 0, err
        lines = [json.loads(line) for line in out.splitlines()]
        assert {line["source"] for line in lines} == {"MT5", "RISK"}
        assert all("acc-2" not in line["subject"] for line in lines)
        facts = [line["seq"] for line in lines if line["source"] == "MT5"]
        assert facts == sorted(facts)
        # every decision comes before the first fact after the one that caused it
        for i, line in enumerate(lines):
            if line["source"] == "RISK":
                later = [x["seq"] for x in lines[i:] if x["source"] == "MT5"]
                assert all(seq > line["fact_seq"] for seq in later), line
        breach = next(line for line in lines if line["type"] == "DrawdownBreached")
        assert breach["changed"]["rule"] == "daily"
        assert "floor" in json.dumps(breach["changed"])
        halted = next(line for line in lines if line["type"] == "TradingStateChanged"
                      and line["changed"]["state"] != "ACTIVE")  # fmt: skip
        assert halted["changed"]["reason"]
        assert lines.index(breach) < lines.index(halted)

        code, text, err = await mtq(
            "replay", "--account", "acc-1", "--from", (T0 + timedelta(seconds=30)).isoformat(),
            "--nats-url", url,
        )  # fmt: skip
        assert code == 0, err
        assert "DrawdownBreached" in text
        assert "AccountRegistered" not in text  # before --from
        assert all(len(line.split("  ")) >= 3 for line in text.splitlines())
    finally:
        await nc.close()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--account", "acc-1", "--at", "yesterday"), "--at 'yesterday' is not a time"),
        (("--account", "acc-1", "--from", "2026-13-01"), "is not a time"),
        (("--account", "nobody"), "unknown account nobody: no facts or decisions"),
        (("--account", "nobody", "--config", "CFG"), "unknown account nobody: not in"),
        (("--account", "acc-1", "--at", "2020-01-01T00:00:00Z", "--config", "CFG"),
         "account acc-1 has no events at or before 2020-01-01"),
        (("--account", "acc-1", "--from", "2026-03-02T10:00", "--to", "2026-03-02T09:00"),
         "is after --to"),
    ],
)  # fmt: skip
async def test_replay_when_time_bad_or_account_unknown_then_one_line_and_exit_2(
    fresh_nats_server: EmbeddedNatsServer, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    url = fresh_nats_server.url
    nc, js = await connect_js(url)
    await ensure_topology(js)
    await FactFeed(js).snapshot("acc-1", 100_000, 100_000)
    await nc.close()
    cfg = str(write_config(tmp_path, ACCOUNTS))
    code, out, err = await mtq("replay", *(cfg if a == "CFG" else a for a in args),
                               "--nats-url", url)  # fmt: skip
    assert code == 2, (out, err)
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert out == ""
