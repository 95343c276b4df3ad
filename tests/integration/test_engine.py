"""The risk engine over a real nats-server: facts in, decisions in RISK, commands in CMD."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import msgspec
import pytest
from nats.aio.client import Client

from bus import subjects
from bus.codec import encode
from bus.embedded import EmbeddedNatsServer
from bus.schemas.risk import RiskCheckReply, RiskCheckRequest, RiskControlReply, RiskControlRequest
from engine.pipeline import EngineFenced
from tests.integration.engine_support import (
    FactFeed,
    connect_js,
    load,
    read_decisions,
    running_engine,
    settled,
    stream_messages,
    write_config,
)
from tests.support import eventually

pytestmark = pytest.mark.nats

FTMO = """\
  - id: ftmo-1
    risk:
      initial_capital: 100000
      daily_loss: {limit_percent: 5, anchor: balance, timezone: Europe/Prague}
      max_loss: {kind: static, limit_percent: 10}
      actions: {daily_loss: liquidate}
  - id: strict-2
    risk:
      initial_capital: 25000
      max_positions: 2
      max_lots_per_symbol: 0.2
      allowed_symbols: [EURUSD]
      require_stop_loss: true
      daily_loss: {limit_percent: 3}
"""


def types_of(url: str, account_id: str) -> list[str]:
    return [d.type for d in read_decisions(url) if d.account_id == account_id]


async def test_engine_when_daily_loss_breached_then_liquidates_and_halts(
    engine_bus: tuple[str, Client, FactFeed], tmp_path: Path
) -> None:
    url, nc, feed = engine_bus
    config = load(write_config(tmp_path, FTMO))
    async with running_engine(url, config) as process:
        await feed.snapshot("ftmo-1", 100_000, 100_000)
        await feed.opened("ftmo-1", 11)
        feed.advance(60)
        await feed.snapshot("ftmo-1", 100_000, 96_000)
        feed.advance(60)
        last = await feed.snapshot("ftmo-1", 100_000, 94_999.99)
        await settled(process, last)
        types = types_of(url, "ftmo-1")
        assert types[0] == "AccountRegistered"
        assert "DrawdownWarning" in types
        assert "DrawdownBreached" in types
        assert "LiquidationOrdered" in types
        assert types.index("LiquidationOrdered") < types.index("TradingStateChanged")
        breach = next(d for d in read_decisions(url) if d.type == "DrawdownBreached")
        assert breach.body["seq"] == last
        assert breach.body["rule"] == "daily"
        commands = await eventually(
            lambda: _commands(nc, "ftmo-1"), message="close_all command in CMD"
        )
        close_all = [c for c in commands if c[0] == "cmd.ftmo-1.close_all"]
        assert len(close_all) == 1
        order = next(d for d in read_decisions(url) if d.type == "LiquidationOrdered")
        assert close_all[0][1]["command_id"] == order.body["command_id"]
        assert close_all[0][2]["Nats-Msg-Id"] == order.body["command_id"]
        assert process.engine.decider.accounts["ftmo-1"].trading_state == "HALTED"
        # the agent answers: the command is no longer outstanding
        last = await feed.executed("ftmo-1", order.body["command_id"])
        await settled(process, last)
        assert order.body["command_id"] not in (
            process.engine.decider.accounts["ftmo-1"].outstanding_commands
        )


async def _commands(
    nc: Client, account_id: str
) -> list[tuple[str, dict[str, Any], dict[str, str]]]:
    found = await stream_messages(nc.jetstream(), subjects.STREAM_CMD)
    return [c for c in found if c[0].startswith(f"cmd.{account_id}.")]


async def _check(nc: Client, **fields: object) -> RiskCheckReply:
    request = RiskCheckRequest(**fields)  # type: ignore[arg-type]
    reply = await nc.request(subjects.risk_check(request.account_id), encode(request), timeout=5)
    assert not (reply.headers or {}).get("Nats-Service-Error-Code"), reply.headers
    return msgspec.json.decode(reply.data, type=RiskCheckReply)


async def test_pretrade_when_orders_break_limits_then_denied_with_reasons_and_recorded(
    engine_bus: tuple[str, Client, FactFeed], tmp_path: Path
) -> None:
    url, nc, feed = engine_bus
    config = load(write_config(tmp_path, FTMO))
    async with running_engine(url, config) as process:
        last = await feed.snapshot("strict-2", 25_000, 25_000)
        await settled(process, last)
        from datetime import UTC, datetime

        now = datetime.now(UTC)
        await feed.tick("strict-2", "EURUSD", 1.08500, 1.08510, now)
        ok = await _check(
            nc,
            account_id="strict-2",
            symbol="EURUSD",
            side="buy",
            volume=0.1,
            price=1.0851,
            sl=1.0841,
            client_order_id="o-1",
        )
        assert ok.approved, ok.reasons
        lots = await _check(
            nc,
            account_id="strict-2",
            symbol="EURUSD",
            side="buy",
            volume=0.5,
            price=1.0851,
            sl=1.0841,
            client_order_id="o-2",
        )
        assert not lots.approved
        assert any("max_lots_per_symbol" in r for r in lots.reasons)
        symbol = await _check(
            nc,
            account_id="strict-2",
            symbol="XAUUSD",
            side="buy",
            volume=0.1,
            price=2350,
            sl=2340,
            client_order_id="o-3",
        )
        assert not symbol.approved
        assert any("XAUUSD" in r for r in symbol.reasons)
        no_sl = await _check(
            nc,
            account_id="strict-2",
            symbol="EURUSD",
            side="buy",
            volume=0.1,
            price=1.0851,
            client_order_id="o-4",
        )
        assert not no_sl.approved
        await feed.tick("strict-2", "EURUSD", 1.08500, 1.08560, now)  # 6 pips
        spread = await _check(
            nc,
            account_id="strict-2",
            symbol="EURUSD",
            side="buy",
            volume=0.1,
            price=1.0856,
            sl=1.0846,
            client_order_id="o-5",
        )
        assert not spread.approved
        assert any("spread" in r for r in spread.reasons)
        from datetime import timedelta

        await feed.tick("strict-2", "EURUSD", 1.085, 1.0851, now - timedelta(seconds=120))
        stale = await _check(
            nc,
            account_id="strict-2",
            symbol="EURUSD",
            side="buy",
            volume=0.1,
            price=1.0851,
            sl=1.0841,
            client_order_id="o-6",
        )
        assert not stale.approved
        assert any("stale" in r for r in stale.reasons)
        recorded = [d for d in read_decisions(url) if d.type in ("OrderApproved", "OrderDenied")]
        assert [d.body["request"]["client_order_id"] for d in recorded] == [
            "o-1",
            "o-2",
            "o-3",
            "o-4",
            "o-5",
            "o-6",
        ]
        assert recorded[0].type == "OrderApproved"
        assert recorded[4].body["market"]["ask"] == 1.0856


async def test_control_when_paused_then_only_reducing_orders_pass_and_actor_recorded(
    engine_bus: tuple[str, Client, FactFeed], tmp_path: Path
) -> None:
    url, nc, feed = engine_bus
    config = load(write_config(tmp_path, FTMO))
    async with running_engine(url, config) as process:
        await feed.snapshot("ftmo-1", 100_000, 100_000)
        last = await feed.opened("ftmo-1", 21, volume=1.0)
        await settled(process, last)
        from datetime import UTC, datetime

        await feed.tick("ftmo-1", "EURUSD", 1.085, 1.0851, datetime.now(UTC))
        request = RiskControlRequest(
            account_id="ftmo-1", action="pause", reason="news", actor="alice"
        )
        reply = await nc.request(subjects.risk_control("alice"), encode(request), timeout=5)
        control = msgspec.json.decode(reply.data, type=RiskControlReply)
        assert control.trading_state == "REDUCING"
        assert control.changed
        changed = [d for d in read_decisions(url) if d.type == "TradingStateChanged"]
        assert changed[-1].body["actor"] == "alice"  # the subject's identity
        assert changed[-1].body["reason"] == "pause: news"  # the body says alice too: no note
        more = await _check(
            nc,
            account_id="ftmo-1",
            symbol="EURUSD",
            side="buy",
            volume=0.1,
            price=1.0851,
            sl=1.08,
            client_order_id="more",
        )
        assert not more.approved
        reduce = await _check(
            nc,
            account_id="ftmo-1",
            symbol="EURUSD",
            side="sell",
            volume=0.5,
            price=1.085,
            client_order_id="reduce",
        )
        assert reduce.approved, reduce.reasons
        bad = RiskControlRequest(account_id="nobody", action="halt", reason="x", actor="a")
        reply = await nc.request(subjects.risk_control("a"), encode(bad), timeout=5)
        assert (reply.headers or {}).get("Nats-Service-Error-Code") == "404"
        commands = await eventually(lambda: _commands(nc, "ftmo-1"))
        assert any(
            c[0] == "cmd.ftmo-1.set_trading_state" and c[1]["state"] == "REDUCING" for c in commands
        )


async def test_bad_facts_when_decided_then_dead_lettered_with_reason_and_no_decision(
    engine_bus: tuple[str, Client, FactFeed], tmp_path: Path
) -> None:
    url, nc, feed = engine_bus
    config = load(write_config(tmp_path, FTMO))
    js = nc.jetstream()
    async with running_engine(url, config) as process:
        await feed.snapshot("ftmo-1", 100_000, 100_000)
        await settled(process, await feed.opened("ftmo-1", 31))
        before = len(read_decisions(url))
        await feed.snapshot("stranger", 1000, 1000)  # unknown account
        await feed.opened("ftmo-1", 31, price=1.09)  # duplicate open (new msg id below)
        await feed.snapshot("ftmo-1", -5, 100_000)  # negative balance
        await feed.snapshot("ftmo-1", 100_000, 100_000, at=feed.now.replace(year=2025))
        await js.publish(subjects.account_snapshot("ftmo-1"), b'{"type":"AccountSnapshot"}')
        last = await feed.snapshot("ftmo-1", 100_000, 1e15)  # absurd
        await settled(process, last)
        assert len(read_decisions(url)) == before
        assert process.engine.stats.rejected == 6
        dead = await eventually(lambda: _dlq(nc, 6), message="six dead letters")
        reasons = " | ".join(h["Mtq-Error"] for _, _, h in dead)
        for expected in (
            "unknown_account",
            "DuplicatePosition",
            "InvalidFact",
            "FactOutOfOrder",
            "decode",
        ):
            assert expected in reasons
        assert all(h["Mtq-Original-Subject"].startswith("mt5.") for _, _, h in dead)


async def _dlq(nc: Client, count: int) -> list[tuple[str, dict[str, Any], dict[str, str]]] | None:
    found = await stream_messages(nc.jetstream(), subjects.STREAM_DLQ)
    return found if len(found) >= count else None


async def test_restart_when_engine_stops_then_no_decision_doubled_and_commands_resent(
    engine_bus: tuple[str, Client, FactFeed], tmp_path: Path
) -> None:
    url, nc, feed = engine_bus
    config = load(write_config(tmp_path, FTMO))
    async with running_engine(url, config, snapshot_every=2) as process:
        await feed.snapshot("ftmo-1", 100_000, 100_000)
        await feed.opened("ftmo-1", 41)
        feed.advance(60)
        last = await feed.snapshot("ftmo-1", 100_000, 90_000)
        await settled(process, last)
    first = read_decisions(url)
    feed.advance(60)
    await feed.snapshot("ftmo-1", 100_000, 89_000)
    snapshots = await stream_messages(nc.jetstream(), subjects.STREAM_RISK)
    assert any(".snapshots." in subject for subject, _, _ in snapshots)
    async with running_engine(url, config, snapshot_every=2) as process:
        last = await feed.snapshot("ftmo-1", 100_000, 89_500, at=feed.advance(60))
        await settled(process, last)
        again = read_decisions(url)
        assert again[: len(first)] == first
        versions = [d.version for d in again if d.account_id == "ftmo-1"]
        assert versions == sorted(set(versions))
        assert process.engine.sender.sent >= 1  # the unanswered CloseAll went out again
        assert process.engine.sender.duplicates >= 1  # and JetStream knew it
        close_all = subjects.command("ftmo-1", "close_all")
        ordered = [d.body for d in again if d.type == "LiquidationOrdered"]
        sent = [c for c in await _commands(nc, "ftmo-1") if c[0] == close_all]
        assert (len(ordered), len(sent)) == (1, 1), (ordered, sent)


async def test_second_engine_when_both_write_then_one_is_fenced_and_nothing_doubled(
    engine_bus: tuple[str, Client, FactFeed], tmp_path: Path
) -> None:
    url, _, feed = engine_bus
    config = load(write_config(tmp_path, FTMO))
    from engine.bootstrap import build_engine

    engines = [await build_engine(config, url), await build_engine(config, url)]
    stop = asyncio.Event()
    last = await feed.snapshot("ftmo-1", 100_000, 100_000)
    tasks = []
    for process in engines:  # one after the other: both load the same position
        tasks.append(asyncio.create_task(process.run(stop)))
        await asyncio.wait_for(process.engine.ready.wait(), 20)
    for equity in (99_000, 97_000, 96_000, 90_000):
        feed.advance(60)
        last = await feed.snapshot("ftmo-1", 100_000, equity)
    done, _ = await asyncio.wait(tasks, timeout=20, return_when=asyncio.FIRST_EXCEPTION)
    stop.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    fenced = [r for r in results if isinstance(r, EngineFenced)]
    assert done
    assert len(fenced) == 1, results
    decisions = [d for d in read_decisions(url) if d.account_id == "ftmo-1"]
    versions = [d.version for d in decisions]
    assert versions == list(range(1, len(versions) + 1))
    assert last > 0


async def test_engine_when_server_restarts_under_it_then_decides_on_without_loss(
    fresh_nats_server: EmbeddedNatsServer, tmp_path: Path
) -> None:
    url = fresh_nats_server.url
    nc, js = await connect_js(url)
    from bus.topology import ensure_topology

    await ensure_topology(js)
    feed = FactFeed(js)
    config = load(write_config(tmp_path, FTMO))
    try:
        async with running_engine(url, config) as process:
            await feed.snapshot("ftmo-1", 100_000, 100_000)
            await settled(process, await feed.opened("ftmo-1", 51))
            await nc.close()
            fresh_nats_server.stop()
            await asyncio.sleep(1.5)
            fresh_nats_server.start()
            nc, js = await connect_js(url)
            await ensure_topology(js)
            feed.js = js
            feed.advance(60)
            last = await feed.snapshot("ftmo-1", 100_000, 94_000)
            await settled(process, last, timeout=30)
            # Pooled read connections the restart closed are replaced on first use.
            types = [d.type for d in read_decisions(url) if d.account_id == "ftmo-1"]
            assert types.count("PositionTracked") == 1
            assert "LiquidationOrdered" in types
            commands = await eventually(lambda: _commands(nc, "ftmo-1"), timeout=15)
            assert [c[0] for c in commands] == ["cmd.ftmo-1.close_all",
                                               "cmd.ftmo-1.set_trading_state"]  # fmt: skip
    finally:
        await nc.close()
