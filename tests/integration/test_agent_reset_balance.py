"""Issue 16 bug 6: a real agent on the simulator sends, with its first snapshot of the day,
the balance at the daily reset rebuilt from the terminal's deal history."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from nats.aio.client import Client

from agents.harness import simulator_account, start_agent
from agents.terminal.mt5 import constants as c
from bus.schemas import AccountSnapshot
from bus.topology import ensure_topology
from domain.tradingday import trading_day
from tests.integration.agent_support import decoded, read_subject, simulator, until

pytestmark = [pytest.mark.nats]


async def test_agent_when_started_mid_day_after_trades_then_reset_balance_rebuilt(
    nc: Client, nats_url: str, tmp_path: Path
) -> None:
    await ensure_topology(nc.jetstream())
    account_id = f"reset-{uuid.uuid4().hex[:8]}"
    account = simulator_account(
        account_id, risk={"daily_loss": {"timezone": "Europe/Prague", "reset_time": "00:00"}}
    )
    terminal = simulator()
    assert terminal.initialize()
    assert terminal.symbol_select("EURUSD", True)
    opened = terminal.open_position("EURUSD", c.ORDER_TYPE_BUY, 1.0).ticket
    tick = terminal.symbol_info_tick("EURUSD")
    assert tick is not None
    closed = terminal.order_send({"action": c.TRADE_ACTION_DEAL, "symbol": "EURUSD",
                                  "volume": 1.0, "type": c.ORDER_TYPE_SELL, "position": opened,
                                  "price": tick.bid, "deviation": 50})  # fmt: skip
    assert closed is not None
    assert closed.retcode == c.TRADE_RETCODE_DONE
    info = terminal.account_info()
    assert info is not None
    assert info.balance != 10_000.0  # the round trip cost the spread

    async def rebuilt() -> AccountSnapshot | None:
        facts = decoded(await read_subject(nc, f"mt5.{account_id}.account", idle=0.3))
        found = [f for f in facts if isinstance(f, AccountSnapshot) and f.reset_at is not None]
        return found[0] if found else None

    running = start_agent(account, terminal, nats_url=nats_url, data_dir=tmp_path)
    try:
        snapshot = await until(rebuilt, timeout=15)
    finally:
        await running.close()
    expected = trading_day(datetime.now(UTC), "00:00", "Europe/Prague").start
    assert snapshot.reset_at == expected
    assert snapshot.reset_balance == 10_000.0
    assert snapshot.balance == info.balance
    assert snapshot.reset_equity is None
    snapshots = decoded(await read_subject(nc, f"mt5.{account_id}.account", idle=0.3))
    assert sum(1 for s in snapshots if isinstance(s, AccountSnapshot) and s.reset_at) == 1
