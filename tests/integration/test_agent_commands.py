"""Commands on the CMD work queue: executed once, answered, bad ones dead-lettered."""

from __future__ import annotations

import functools
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from nats.aio.client import Client

from agents.harness import RunningAgent, simulator_account, start_agent
from agents.state import AgentState
from agents.store import db_path, open_store
from agents.terminal.mt5 import constants as c
from agents.terminal.simulator import events as sim
from agents.terminal.simulator.settings import StrategySpec
from agents.terminal.simulator.terminal import SimulatedTerminal
from bus import subjects
from bus.codec import encode
from bus.dlq import HDR_ERROR, HDR_ERROR_KIND, HDR_ORIGINAL_SUBJECT
from bus.schemas import CloseAll, ClosePosition, OrderExecuted, OrderRejected, SetTradingState
from bus.topology import ensure_topology
from tests.integration.agent_support import decoded, read_subject, simulator, until
from tests.support import eventually

pytestmark = [pytest.mark.nats]


@pytest.fixture
async def setup(
    nc: Client, nats_url: str, tmp_path: Path
) -> AsyncIterator[tuple[str, SimulatedTerminal, RunningAgent]]:
    await ensure_topology(nc.jetstream())
    account_id = f"cmd-{uuid.uuid4().hex[:8]}"
    terminal = simulator()
    running = start_agent(simulator_account(account_id), terminal, nats_url=nats_url,
                          data_dir=tmp_path)  # fmt: skip
    await until(lambda: running.agent.session.connected and running.agent.link.connected)
    yield account_id, terminal, running
    await running.close()


async def _results(nc: Client, account_id: str) -> list[OrderExecuted | OrderRejected]:
    facts = decoded(await read_subject(nc, f"mt5.{account_id}.order.*", idle=0.3))
    return [f for f in facts if isinstance(f, OrderExecuted | OrderRejected)]


def _closes(terminal: SimulatedTerminal, ticket: int) -> int:
    handled = [e for e in terminal.history if isinstance(e, sim.OrderHandled)]
    return sum(1 for e in handled if e.request.get("position") == ticket)


async def test_close_position_when_same_command_id_sent_twice_then_executed_once(
    nc: Client, setup: tuple[str, SimulatedTerminal, RunningAgent]
) -> None:
    account_id, terminal, running = setup
    ticket = terminal.open_position("EURUSD", c.ORDER_TYPE_BUY, 0.1).ticket
    command = ClosePosition(command_id="close-1", account_id=account_id, ticket=ticket)
    subject = subjects.command(account_id, "close_position")
    js = nc.jetstream()
    await js.publish(subject, encode(command))  # no Nats-Msg-Id: the agent must dedupe
    await js.publish(subject, encode(command))
    await until(lambda: running.agent.executor.duplicates == 1)
    results = await until(lambda: _results(nc, account_id))
    assert len(results) == 1
    result = results[0]
    assert isinstance(result, OrderExecuted)
    assert (result.command_id, result.ticket, result.retcode) == ("close-1", ticket, 10009)
    assert _closes(terminal, ticket) == 1
    assert terminal.positions_get(ticket=ticket) == ()


async def test_close_position_when_ticket_unknown_then_order_rejected_with_reason(
    nc: Client, setup: tuple[str, SimulatedTerminal, RunningAgent]
) -> None:
    account_id, _, _ = setup
    command = ClosePosition(command_id="close-x", account_id=account_id, ticket=424242)
    await nc.jetstream().publish(subjects.command(account_id, "close_position"), encode(command))
    results = await until(lambda: _results(nc, account_id))
    assert isinstance(results[0], OrderRejected)
    assert results[0].command_id == "close-x"
    assert "unknown ticket 424242" in results[0].comment


async def test_command_when_body_malformed_then_dlq_and_next_command_answered(
    nc: Client, setup: tuple[str, SimulatedTerminal, RunningAgent]
) -> None:
    account_id, terminal, _ = setup
    js = nc.jetstream()
    subject = subjects.command(account_id, "close_all")
    await js.publish(subject, b'{"type": "CloseAll", "command_id": 5}')
    dead = await until(lambda: read_subject(nc, f"dlq.{subject}", idle=0.3))
    assert len(dead) == 1
    headers = dead[0].headers or {}
    assert headers[HDR_ERROR_KIND] == "decode"
    assert headers[HDR_ORIGINAL_SUBJECT] == subject
    assert "command_id" in headers[HDR_ERROR]
    t1 = terminal.open_position("EURUSD", c.ORDER_TYPE_SELL, 0.2).ticket
    t2 = terminal.open_position("EURUSD", c.ORDER_TYPE_BUY, 0.1).ticket
    await js.publish(subject, encode(CloseAll(command_id="all-1", account_id=account_id)))

    async def two_results() -> list[OrderExecuted | OrderRejected]:
        results = await _results(nc, account_id)
        assert len(results) == 2
        return results

    results = await until(two_results)
    assert {(r.ticket, type(r).__name__) for r in results} == {
        (t1, "OrderExecuted"),
        (t2, "OrderExecuted"),
    }
    assert terminal.positions_get() == ()


async def test_command_when_interrupted_by_a_crash_then_rejected_as_outcome_unknown_on_restart(
    nc: Client, nats_url: str, tmp_path: Path
) -> None:
    await ensure_topology(nc.jetstream())
    account_id = f"cut-{uuid.uuid4().hex[:8]}"
    conn = open_store(db_path(tmp_path, account_id))
    AgentState(conn).command_started("cut-1", "ClosePosition")  # then the agent died
    conn.close()
    terminal = simulator()
    ticket = terminal.open_position("EURUSD", c.ORDER_TYPE_BUY, 0.1).ticket
    running = start_agent(simulator_account(account_id), terminal, nats_url=nats_url,
                          data_dir=tmp_path)  # fmt: skip
    try:
        results = await until(lambda: _results(nc, account_id))
        assert len(results) == 1
        assert isinstance(results[0], OrderRejected)
        assert results[0].command_id == "cut-1"
        assert "outcome unknown" in results[0].comment
        redelivered = ClosePosition(command_id="cut-1", account_id=account_id, ticket=ticket)
        await nc.jetstream().publish(
            subjects.command(account_id, "close_position"), encode(redelivered)
        )
        await until(lambda: running.agent.executor.duplicates == 1)
        assert len(terminal.positions_get(ticket=ticket) or ()) == 1
        assert len(await _results(nc, account_id)) == 1
    finally:
        await running.close()


def _reached(terminal: SimulatedTerminal, msc: int) -> bool:
    return terminal.now_msc > msc


async def test_set_trading_state_when_halted_then_scripted_trader_opens_nothing_until_active(
    nc: Client, nats_url: str, tmp_path: Path
) -> None:
    await ensure_topology(nc.jetstream())
    account_id = f"halt-{uuid.uuid4().hex[:8]}"
    terminal = simulator(
        strategy=StrategySpec(kind="random", open_probability=0.5, close_probability=0.3,
                              max_positions=100, sl_pips=None, tp_pips=None),
        tick_interval_ms=20,
    )  # fmt: skip
    running = start_agent(simulator_account(account_id), terminal, nats_url=nats_url,
                          data_dir=tmp_path)  # fmt: skip
    js = nc.jetstream()

    def opens() -> int:
        return sum(isinstance(e, sim.PositionOpened) for e in terminal.history)

    async def set_state(state: str) -> None:
        command = SetTradingState(command_id=f"state-{state}", account_id=account_id,
                                  state=state, reason="test")  # type: ignore[arg-type]  # fmt: skip
        await js.publish(subjects.command(account_id, "set_trading_state"), encode(command))
        await until(lambda: terminal.trading_state == state)

    try:
        await until(lambda: opens() > 0)
        for state in ("HALTED", "REDUCING"):
            await set_state(state)
            before, until_msc = opens(), terminal.now_msc + 1_000
            # 50 steps: about 25 opens if the state were ACTIVE
            await until(functools.partial(_reached, terminal, until_msc))
            assert opens() == before, state
        await set_state("ACTIVE")
        before = opens()
        await until(lambda: opens() > before)
        assert running.agent.state.trading_state() == "ACTIVE"
        # each SetTradingState is answered, so the risk engine stops waiting for it
        subject = subjects.order(account_id, "executed")

        async def answered() -> list[str]:
            facts = decoded(await read_subject(nc, subject))
            ids = sorted(f.command_id for f in facts if isinstance(f, OrderExecuted))
            assert ids == ["state-ACTIVE", "state-HALTED", "state-REDUCING"]
            return ids

        await eventually(answered, timeout=15)
    finally:
        await running.close()
