"""Time rules over a real nats-server (issue 19): a Topstep-style flat_by decided from the
agent's heartbeat times, across an engine restart: the warning once, then the flatten, the
CloseAll and pre-trade denying new exposure by the rule's name; `audit verify` replays it
to the same bytes."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest
from nats.aio.client import Client

from bus import subjects
from bus.codec import encode
from bus.schemas.risk import RiskCheckReply, RiskCheckRequest
from engine.audit_run import run_verify
from engine.store import open_store
from tests.integration.engine_support import (
    T0,
    FactFeed,
    load,
    read_decisions,
    running_engine,
    settled,
    stream_messages,
    write_config,
)
from tests.support import eventually

pytestmark = pytest.mark.nats

TOPSTEP_STYLE = """\
  - id: top-1
    risk:
      initial_capital: 50000
      daily_loss: {limit_percent: 2, reset_time: "17:00", timezone: America/Chicago}
      feed: {stale_after_seconds: 86400}
      schedule:
        flat_by: {time: "15:10", timezone: America/Chicago, days: [mon, tue, wed, thu, fri]}
"""


def _at(clock: str) -> datetime:
    """Monday 2026-03-02 (CST, UTC-6) at `clock` UTC: 15:10 Chicago is 21:10Z."""
    hours, minutes, seconds = (int(p) for p in clock.split(":"))
    return T0.replace(hour=hours, minute=minutes, second=seconds)


async def _close_all(nc: Client) -> list[tuple[str, dict[str, Any], dict[str, str]]] | None:
    found = await stream_messages(nc.jetstream(), subjects.STREAM_CMD)
    close_all = [c for c in found if c[0] == "cmd.top-1.close_all"]
    return close_all or None


async def _check(nc: Client, side: str, volume: float) -> RiskCheckReply:
    request = RiskCheckRequest(
        account_id="top-1",
        symbol="XAUUSD",
        side=side,  # type: ignore[arg-type]
        volume=volume,
        price=2350.0,
        sl=0.0,
        client_order_id=f"o-{side}",
    )
    reply = await nc.request(subjects.risk_check("top-1"), encode(request), timeout=5)
    assert not (reply.headers or {}).get("Nats-Service-Error-Code"), reply.headers
    return msgspec.json.decode(reply.data, type=RiskCheckReply)


async def test_flat_by_when_heartbeats_cross_it_across_a_restart_then_warned_then_flattened(
    engine_bus: tuple[str, Client, FactFeed], tmp_path: Path
) -> None:
    url, nc, feed = engine_bus
    config = load(write_config(tmp_path, TOPSTEP_STYLE))
    async with running_engine(url, config, snapshot_every=1) as process:  # restarts from one
        await feed.snapshot("top-1", 50_000, 50_000, at=_at("14:00:00"))
        await feed.opened("top-1", 7, symbol="XAUUSD", price=2350.0, at=_at("14:00:01"))
        await feed.heartbeat("top-1", _at("20:59:59"))
        warned = await feed.heartbeat("top-1", _at("21:00:00"))
        await settled(process, warned)
    # pre-trade is decided at its receive time: this engine's clock reads 21:10:30Z
    async with running_engine(
        url, config, clock=lambda: _at("21:10:30"), snapshot_every=1
    ) as process:
        await feed.heartbeat("top-1", _at("21:05:00"))
        flat = await feed.heartbeat("top-1", _at("21:10:00"))
        await settled(process, flat)
        close_all = await eventually(lambda: _close_all(nc), message="CloseAll in CMD")
        denied = await _check(nc, "buy", 0.1)
        reducing = await _check(nc, "sell", 0.1)
        held = process.engine.decider.accounts["top-1"].trading_state
        reopened = await feed.heartbeat("top-1", _at("23:00:00"))  # 17:00 CST: the next day
        await settled(process, reopened)
        reopened_state = process.engine.decider.accounts["top-1"].trading_state
    assert (held, reopened_state) == ("REDUCING", "ACTIVE")
    decisions = read_decisions(url)
    (warning,) = [d.body for d in decisions if d.type == "ScheduleWarning"]
    assert (warning["seq"], warning["rule"], warning["due"]) == (
        warned,
        "flat_by",
        "2026-03-02T21:10:00+00:00",
    )
    after = [d for d in decisions if d.body["seq"] == flat and not d.type.startswith("Order")]
    assert [d.type for d in after] == [
        "ScheduleFlattened",
        "LiquidationOrdered",
        "TradingStateChanged",
        "TradingWindowChanged",
    ]
    order = after[1].body
    assert (order["rule"], order["identifiers"]) == ("schedule", [7])
    assert after[2].body["state"] == "REDUCING"
    assert [c[1]["command_id"] for c in close_all] == [order["command_id"]]
    assert not denied.approved, denied
    assert any(r.startswith("past flat_by 15:10 America/Chicago") for r in denied.reasons)
    assert reducing.approved, reducing.reasons
    checks = [d.type for d in decisions if d.type.startswith("Order")]
    assert checks == ["OrderDenied", "OrderApproved"]
    released = [d.type for d in decisions if d.body["seq"] == reopened]
    assert released == ["TradingWindowChanged", "ScheduleReleased", "TradingStateChanged"]
    replayed = await run_verify(nc, open_store(url))  # the recorded facts decide the same bytes
    assert replayed.identical, replayed.summary()
    assert replayed.decisions == len(decisions)
