"""The terminal session as `build_agent()` wires it, against a scripted fake terminal: connect
and probe, backoff, failures and the breaker, disconnect codes, order_send's None, and the
wanted trading state pushed on every (re)connect."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from agents.agent import Agent, AgentTuning, build_agent
from agents.harness import simulator_account
from agents.session import TerminalSession, TerminalUnavailable
from agents.terminal.async_terminal import AsyncTerminal
from agents.terminal.mt5 import constants as c
from agents.terminal.simulator import ManualClock, SimulatedTerminal, SimulatorSettings
from bus.schemas import SetTradingState
from tests.support import eventually
from tests.unit.test_agent_support import FakeTerminal, utc

NO_IPC = (c.RES_E_INTERNAL_FAIL_CONNECT, "No IPC connection")
QUICK = {
    "poll_interval_ms": 20,
    "reconnect": {"initial_delay_s": 0.01, "max_delay_s": 0.02, "jitter": 0},
    "breaker": {"failure_threshold": 3, "recovery_seconds": 0.05},
}


def _wire(tmp: Path) -> tuple[Agent, FakeTerminal]:
    clock = ManualClock(utc("2026-01-06T10:00:00"))
    fake = FakeTerminal(SimulatedTerminal(SimulatorSettings(seed=1), clock))
    agent = build_agent(
        simulator_account("sess", agent=QUICK),
        terminal=AsyncTerminal(fake, inline=True),
        nats_url="nats://fake",
        data_dir=tmp,
        tuning=AgentTuning(consume_commands=False),
        clock=clock.now,
    )
    return agent, fake


@pytest.fixture
def wired(tmp_path: Path) -> Iterator[tuple[Agent, FakeTerminal]]:
    agent, fake = _wire(tmp_path)
    yield agent, fake
    agent.conn.close()


async def _reconnect(session: TerminalSession) -> None:
    await eventually(session.ensure_connected, timeout=2, message="connected again")


async def test_session_when_probe_fails_after_initialize_then_not_connected_and_backs_off(
    wired: tuple[Agent, FakeTerminal],
) -> None:
    agent, fake = wired
    session = agent.session
    fake.fail["account_info"] = NO_IPC
    assert not await session.ensure_connected()
    assert session.last_error == "account_info after initialize failed: -10004 No IPC connection"
    assert not await session.ensure_connected()  # within the backoff delay: no new attempt
    assert fake.count("initialize") == 1
    del fake.fail["account_info"]
    await _reconnect(session)
    assert session.connected
    assert (session.last_error, session.reconnects) == ("", 1)
    assert fake.count("initialize") == 2


async def test_session_when_none_with_ok_then_empty_result_not_a_failure(
    wired: tuple[Agent, FakeTerminal],
) -> None:
    agent, fake = wired
    session = agent.session
    assert await session.ensure_connected()
    fake.fail["history_deals_get"] = (c.RES_S_OK, "Success")
    assert await session.call("history_deals_get", position=1) is None
    assert (session.failures, session.breaker_state, session.connected) == (0, "closed", True)
    with pytest.raises(TerminalUnavailable):
        await session.call("history_deals_get", position=1, empty_ok=False)


async def test_session_when_disconnect_code_then_disconnected_and_reconnects(
    wired: tuple[Agent, FakeTerminal],
) -> None:
    agent, fake = wired
    session = agent.session
    assert await session.ensure_connected()
    fake.fail["symbol_info_tick"] = NO_IPC
    with pytest.raises(TerminalUnavailable, match="symbol_info_tick: -10004 No IPC connection"):
        await session.call("symbol_info_tick", "EURUSD")
    assert not session.connected
    with pytest.raises(TerminalUnavailable):
        await session.call("account_info")  # nothing reaches the terminal while disconnected
    del fake.fail["symbol_info_tick"]
    await _reconnect(session)
    assert await session.call("symbol_info_tick", "EURUSD") is not None
    assert session.reconnects == 2


async def test_session_when_failures_reach_threshold_then_breaker_opens_then_half_open_probe(
    wired: tuple[Agent, FakeTerminal],
) -> None:
    agent, fake = wired
    session = agent.session
    assert await session.ensure_connected()
    fake.fail["positions_get"] = (c.RES_E_NOT_FOUND, "Terminal: Not found")
    for _ in range(2):
        with pytest.raises(TerminalUnavailable):
            await session.call("positions_get")
        assert session.connected  # not a disconnect code: still connected
    fake.raise_on.add("positions_get")
    with pytest.raises(TerminalUnavailable, match="positions_get raised RuntimeError"):
        await session.call("positions_get")
    assert (session.breaker_state, session.connected) == ("open", False)
    calls = fake.count("positions_get")
    with pytest.raises(TerminalUnavailable):
        await session.call("positions_get")
    assert fake.count("positions_get") == calls  # refused before reaching the terminal
    fake.raise_on.clear()
    del fake.fail["positions_get"]
    await asyncio.sleep(0.06)  # recovery_seconds: the next connect is the half-open probe
    await _reconnect(session)
    assert session.breaker_state == "closed"
    assert await session.call("positions_get") == ()


async def test_session_when_order_send_returns_none_then_error_given_back_not_raised(
    wired: tuple[Agent, FakeTerminal],
) -> None:
    agent, fake = wired
    session = agent.session
    assert await session.ensure_connected()
    fake.fail["order_send"] = (c.RES_E_INVALID_PARAMS, 'Invalid "comment" argument')
    result, error = await session.order_send({"action": c.TRADE_ACTION_DEAL})
    assert (result, error) == (None, (-2, 'Invalid "comment" argument'))
    assert session.connected
    fake.fail["order_send"] = NO_IPC
    assert (await session.order_send({}))[0] is None
    assert not session.connected


async def test_session_when_trading_state_set_then_pushed_now_and_on_every_reconnect(
    tmp_path: Path,
) -> None:
    agent, fake = _wire(tmp_path)
    try:
        session = agent.session
        assert await session.ensure_connected()
        assert fake.states == ["ACTIVE"]  # a fresh store's state, pushed on connect
        command = SetTradingState(command_id="halt-1", account_id="sess", state="HALTED")
        await agent.executor.handle(command)
        assert fake.states == ["ACTIVE", "HALTED"]
        assert fake.sim.trading_state == "HALTED"
        fake.fail["account_info"] = NO_IPC
        with pytest.raises(TerminalUnavailable):
            await session.call("account_info")
        del fake.fail["account_info"]
        await _reconnect(session)
        assert fake.states == ["ACTIVE", "HALTED", "HALTED"]  # pushed again on the reconnect
    finally:
        agent.conn.close()
    # A new agent on the same data dir pushes the recorded state on its first connect.
    again, fake_again = _wire(tmp_path)
    try:
        assert await again.session.ensure_connected()
        assert fake_again.states == ["HALTED"]
    finally:
        again.conn.close()
