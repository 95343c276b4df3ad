"""A Topstep-style flat_by end to end (issue 19): a real agent on a simulated account whose
clock is moved to the instants, the engine over a real nats-server: the warning first, then
at 15:10 America/Chicago the position closed by the agent and the account REDUCING."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from nats.aio.client import Client

from agents.harness import simulator_account, start_agent
from agents.terminal.mt5 import constants as c
from agents.terminal.simulator import ManualClock
from tests.integration.agent_support import simulator, until
from tests.integration.engine_support import (
    FactFeed,
    load,
    read_decisions,
    running_engine,
    write_config,
)

pytestmark = pytest.mark.nats

ACCOUNT = """\
  - id: top-sim
    risk:
      initial_capital: 100000
      daily_loss: {limit_percent: 5, reset_time: "17:00", timezone: America/Chicago}
      feed: {stale_after_seconds: 86400}
      schedule:
        flat_by: {time: "15:10", timezone: America/Chicago, warn_before_minutes: 10}
"""


def _stamp(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def _states(url: str) -> list[str]:
    return [
        d.body["state"]
        for d in read_decisions(url)
        if d.account_id == "top-sim" and d.type == "TradingStateChanged"
    ]


def _types(url: str) -> list[str]:
    return [d.type for d in read_decisions(url) if d.account_id == "top-sim"]


async def test_flat_by_when_simulated_clock_crosses_it_then_warned_then_closed_and_reducing(
    engine_bus: tuple[str, Client, FactFeed], tmp_path: Path
) -> None:
    url, _, _ = engine_bus
    clock = ManualClock(_stamp("2026-03-02T20:50:00+00:00"))  # Monday, 14:50 CST
    terminal = simulator(clock=clock, initial_balance=100_000.0)
    account = simulator_account(
        "top-sim",
        agent={"poll_interval_ms": 20, "heartbeat_interval_s": 0.2,
               "account_snapshot_interval_s": 0.2},
    )  # fmt: skip
    config = load(write_config(tmp_path, ACCOUNT))
    async with running_engine(url, config) as process:
        agent = start_agent(
            account, terminal, nats_url=url, data_dir=tmp_path / "agent", clock=clock.now
        )  # its facts and heartbeats on the simulated clock, not the time of day
        try:
            ticket = terminal.open_position("EURUSD", c.ORDER_TYPE_BUY, 0.1).ticket
            accounts = process.engine.decider.accounts
            await until(lambda: "top-sim" in accounts and accounts["top-sim"].positions)
            assert "ScheduleWarning" not in _types(url)
            clock.set(_stamp("2026-03-02T21:00:30+00:00"))
            await until(lambda: "ScheduleWarning" in _types(url), timeout=20)
            assert terminal.positions_get(ticket=ticket) != ()
            clock.set(_stamp("2026-03-02T21:10:05+00:00"))
            await until(lambda: terminal.positions_get(ticket=ticket) == (), timeout=20)
            # the agent's heartbeats carry the wall clock, past the next trading day of this
            # simulated Monday: the hold is released soon after, so its decision is what counts
            await until(lambda: "REDUCING" in _states(url), timeout=20)
        finally:
            await agent.close()
    types = _types(url)
    assert types.index("ScheduleWarning") < types.index("ScheduleFlattened")
    assert types.index("ScheduleFlattened") < types.index("LiquidationOrdered")
    (order,) = [d.body for d in read_decisions(url) if d.type == "LiquidationOrdered"]
    assert (order["rule"], order["tickets"]) == ("schedule", [ticket])
