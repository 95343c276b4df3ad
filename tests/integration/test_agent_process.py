"""The agent as a real process: `python -m mtq agent run`."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
from nats.aio.client import Client

from agents.facts import DEAL_REASONS
from agents.terminal.factory import simulator_world_path
from agents.terminal.simulator import events as sim
from agents.terminal.simulator.clock import ManualClock
from agents.terminal.simulator.persistence import WorldJournal
from agents.terminal.simulator.settings import settings_from_config
from agents.terminal.simulator.terminal import SimulatedTerminal
from bus import subjects
from bus.codec import encode
from bus.schemas import (
    AgentHeartbeat,
    ClosePosition,
    OrderExecuted,
    OrderRejected,
    PositionClosed,
    PositionOpened,
    TickReceived,
)
from bus.schemas.base import Message
from bus.topology import ensure_topology
from config.loader import load_config
from tests.integration.agent_support import decoded, read_subject, until

pytestmark = [pytest.mark.nats, pytest.mark.slow]

CONFIG = """
accounts:
  - id: {account}
    terminal:
      kind: simulator
      simulator:
        seed: 5
        tick_interval_ms: 50
        strategy: {{kind: random, open_probability: 0.3, close_probability: 0.05,
                    max_positions: 3}}
    agent: {{poll_interval_ms: 25, heartbeat_interval_s: 0.2}}
    symbols: [{{name: EURUSD}}, {{name: XAUUSD}}]
"""


def _start(config: Path, account: str, nats_url: str, data: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "mtq", "agent", "run", "--account", account,
         "--config", str(config), "--nats-url", nats_url, "--data", str(data)],
        stdout=subprocess.DEVNULL, stderr=(data.parent / "agent.log").open("ab"),
    )  # fmt: skip


def _config(tmp_path: Path) -> tuple[str, Path]:
    account = f"proc-{uuid.uuid4().hex[:8]}"
    path = tmp_path / "mtq.yaml"
    path.write_text(CONFIG.format(account=account), encoding="utf-8")
    return account, path


async def test_agent_process_when_running_then_publishes_and_stops_cleanly_on_sigterm(
    nc: Client, nats_url: str, tmp_path: Path
) -> None:
    await ensure_topology(nc.jetstream())
    account, config = _config(tmp_path)
    proc = _start(config, account, nats_url, tmp_path / "data")
    try:

        async def published() -> bool:
            facts = decoded(await read_subject(nc, f"mt5.{account}.tick.*", idle=0.3))
            facts += decoded(await read_subject(nc, f"mt5.{account}.health", idle=0.3))
            assert any(isinstance(f, TickReceived) and f.symbol == "XAUUSD" for f in facts)
            assert any(isinstance(f, AgentHeartbeat) and f.pid == proc.pid for f in facts)
            return True

        await until(published, timeout=15)
        proc.send_signal(signal.SIGTERM)
        # Past 4 s the agent cancels its tasks and past 2 s more it leaves the terminal: 8 s
        # covers that path on a loaded machine, so the log says whether it stopped tidily.
        assert proc.wait(timeout=8) == 0
        text = (tmp_path / "agent.log").read_text(errors="replace")
        assert f"agent {account} stopped (0 facts left in the outbox)" in text, text[-2000:]
        assert "failed" not in text, text[-2000:]
        assert (tmp_path / "data" / f"agent-{account}.sqlite").is_file()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


RESTART_CONFIG = """
accounts:
  - id: {account}
    terminal:
      kind: simulator
      simulator:
        seed: 7
        tick_interval_ms: 50
        strategy: {{kind: random, open_probability: 0.2, close_probability: 0.0,
                    max_positions: 3, sl_pips: 5, tp_pips: 5}}
    agent: {{poll_interval_ms: 25, heartbeat_interval_s: 0.2}}
    symbols: [{{name: EURUSD}}]
"""


def _world_now(config: Path, account: str, data: Path) -> SimulatedTerminal:
    """The account's simulated world rebuilt from its journal, as it stands now."""
    cfg = load_config([config]).account(account)
    settings = settings_from_config(cfg.terminal.simulator, cfg.symbols)
    journal = WorldJournal.read(simulator_world_path(data, account))
    world = SimulatedTerminal(settings, ManualClock(time.time()), journal=journal,
                              use_snapshot=False)  # fmt: skip
    world.initialize()
    return world


async def _close_one_position(nc: Client, account: str) -> int:
    """Send ClosePosition for some open position until one is executed; its ticket."""
    js = nc.jetstream()
    for attempt in range(20):
        facts = decoded(await read_subject(nc, f"mt5.{account}.position.*", idle=0.3))
        closed = {f.ticket for f in facts if isinstance(f, PositionClosed)}
        open_now = [f.ticket for f in facts
                    if isinstance(f, PositionOpened) and f.ticket not in closed]  # fmt: skip
        if not open_now:
            await asyncio.sleep(0.2)
            continue
        command_id = f"close-{attempt}"
        command = ClosePosition(command_id=command_id, account_id=account, ticket=open_now[-1])
        await js.publish(subjects.command(account, "close_position"), encode(command))

        async def result(cid: str = command_id) -> OrderExecuted | OrderRejected:
            results = decoded(await read_subject(nc, f"mt5.{account}.order.*", idle=0.3))
            found = [r for r in results
                     if isinstance(r, OrderExecuted | OrderRejected)
                     and r.command_id == cid]  # fmt: skip
            assert found
            return found[0]

        answer = await until(result, timeout=10)
        if isinstance(answer, OrderExecuted):
            return open_now[-1]
    raise AssertionError("no ClosePosition command was executed")


async def test_agent_process_when_sigkilled_and_restarted_then_closes_while_down_published_once(
    nc: Client, nats_url: str, tmp_path: Path
) -> None:
    await ensure_topology(nc.jetstream())
    account = f"proc-{uuid.uuid4().hex[:8]}"
    config = tmp_path / "mtq.yaml"
    config.write_text(RESTART_CONFIG.format(account=account), encoding="utf-8")
    data = tmp_path / "data"

    async def position_facts() -> list[Message]:
        return decoded(await read_subject(nc, f"mt5.{account}.position.*", idle=0.3))

    proc = _start(config, account, nats_url, data)
    try:
        commanded = await _close_one_position(nc, account)  # an order_send the world must keep

        async def some_open() -> set[int]:
            facts = await position_facts()
            closed = {f.ticket for f in facts if isinstance(f, PositionClosed)}
            assert commanded in closed
            return {f.ticket for f in facts
                    if isinstance(f, PositionOpened) and f.ticket not in closed}  # fmt: skip

        await until(some_open, timeout=15)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=5)
        killed_ms = int(time.time() * 1000)
        open_at_kill = await some_open()

        def closed_while_down() -> sim.PositionClosed:
            events = [e for e in _world_now(config, account, data).history
                      if isinstance(e, sim.PositionClosed) and e.remaining_volume == 0
                      and e.ticket in open_at_kill and e.time_msc > killed_ms]  # fmt: skip
            assert events, f"none of {sorted(open_at_kill)} closed yet"
            return events[0]

        gone = await until(closed_while_down, timeout=30)
        proc = _start(config, account, nats_url, data)

        async def close_published() -> PositionClosed:
            found = [f for f in await position_facts()
                     if isinstance(f, PositionClosed) and f.ticket == gone.ticket]  # fmt: skip
            assert found
            return found[0]

        close = await until(close_published, timeout=15)
        assert close.deal_reason == DEAL_REASONS[gone.deal_reason]
        assert close.deal_reason in ("sl", "tp")
        assert (close.close_price, close.deal_ticket) == (gone.price_close, gone.deal)

        async def restarted() -> bool:
            beats = decoded(await read_subject(nc, f"mt5.{account}.health", idle=0.3))
            return any(isinstance(b, AgentHeartbeat) and b.pid == proc.pid and b.sequence > 5
                       for b in beats)  # fmt: skip

        await until(restarted, timeout=15)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=8) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    msgs = await read_subject(nc, f"mt5.{account}.position.*", idle=0.3)
    msgs += await read_subject(nc, f"mt5.{account}.order.*", idle=0.3)
    msg_ids = Counter((m.headers or {}).get("Nats-Msg-Id") for m in msgs)
    assert max(msg_ids.values()) == 1, [k for k, n in msg_ids.items() if n > 1]
    keys = Counter((type(f).__name__, f.ticket) for f in decoded(msgs)
                   if isinstance(f, PositionOpened | PositionClosed))  # fmt: skip
    assert max(keys.values()) == 1, [k for k, n in keys.items() if n > 1]
    assert keys[("PositionClosed", gone.ticket)] == 1
    assert keys[("PositionOpened", commanded)] == 1  # the commanded close was not undone
    assert keys[("PositionClosed", commanded)] == 1
    facts = decoded(msgs)
    commanded_close = next(f for f in facts
                           if isinstance(f, PositionClosed) and f.ticket == commanded)  # fmt: skip
    assert commanded_close.deal_reason == "expert"
    assert _world_now(config, account, data).positions_get(ticket=commanded) == ()
