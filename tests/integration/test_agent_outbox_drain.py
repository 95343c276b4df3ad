"""NATS stops and restarts under a polling agent: every fact arrives, once, in order."""

from __future__ import annotations

import asyncio
from pathlib import Path

import nats
import pytest

from agents.agent import AgentTuning
from agents.harness import simulator_account, start_agent
from agents.terminal.simulator import events as sim
from agents.terminal.simulator.clock import ManualClock
from agents.terminal.simulator.settings import StrategySpec
from bus.embedded import EmbeddedNatsServer
from bus.schemas import PositionClosed, PositionOpened, TickReceived
from tests.integration.agent_support import decoded, read_subject, simulator, until

pytestmark = [pytest.mark.nats, pytest.mark.slow]

SYMBOLS = ("EURUSD", "GBPUSD")


async def test_outbox_when_nats_stops_and_restarts_then_every_fact_arrives_exactly_once(
    fresh_nats_server: EmbeddedNatsServer, tmp_path: Path
) -> None:
    clock = ManualClock()
    terminal = simulator(
        symbols=SYMBOLS,
        clock=clock,
        strategy=StrategySpec(
            kind="random",
            open_probability=0.3,
            close_probability=0.15,
            max_positions=4,
            sl_pips=5,
            tp_pips=5,
        ),
    )
    account = simulator_account(
        "drain-1", symbols=[{"name": s} for s in SYMBOLS],
        agent={"poll_interval_ms": 10, "heartbeat_interval_s": 0.5},
    )  # fmt: skip
    running = start_agent(
        account, terminal, nats_url=fresh_nats_server.url, data_dir=tmp_path,
        tuning=AgentTuning(ack_timeout_s=1.0),
    )  # fmt: skip
    agent = running.agent
    advancing = True

    async def advance() -> None:
        # One simulator step per agent poll: the agent observes every state.
        seen = agent.polls
        while advancing:
            if agent.polls > seen:
                seen = agent.polls
                clock.advance(0.1)
            await asyncio.sleep(0.002)

    await until(lambda: agent.polls >= 1 and agent.publisher.stats.published > 0)
    driver = asyncio.create_task(advance())
    try:
        await until(lambda: agent.publisher.stats.published > 50, timeout=15)
        fresh_nats_server.stop()
        await until(lambda: len(agent.outbox) > 100, timeout=15, message="outbox grows")
        buffered_while_down = len(agent.outbox)
        ticks_buffered = {
            s: sum(1 for f in agent.outbox.peek(100_000) if f.subject.endswith(f".tick.{s}"))
            for s in SYMBOLS
        }
        assert agent.health().events_buffered >= buffered_while_down
        fresh_nats_server.start()
        await until(lambda: agent.outbox_drained_after(buffered_while_down), timeout=20)
        advancing = False
        await driver
        polls = agent.polls
        await until(lambda: agent.polls >= polls + 3)
        await until(lambda: agent.publisher.pending == 0, timeout=10)
    finally:
        advancing = False
        await running.close()

    nc = await nats.connect(fresh_nats_server.url)
    try:
        ticks = await read_subject(nc, "mt5.drain-1.tick.*")
        positions = await read_subject(nc, "mt5.drain-1.position.*")
    finally:
        await nc.close()
    history = terminal.history
    for symbol in SYMBOLS:
        expected = [e.tick.time_msc for e in history
                    if isinstance(e, sim.TickGenerated) and e.symbol == symbol]  # fmt: skip
        got = [f.time_msc for f in decoded(ticks)
               if isinstance(f, TickReceived) and f.symbol == symbol]  # fmt: skip
        # MT5_TICKS is in memory: the server restart lost the ticks it held. Those buffered
        # while it was down and everything after arrive, in order, once each.
        assert len(got) >= ticks_buffered[symbol] > 0
        assert got == expected[-len(got) :], f"{symbol}: {len(got)} of {len(expected)} ticks"
    msg_ids = [m.headers["Nats-Msg-Id"] for m in ticks + positions if m.headers]
    assert len(msg_ids) == len(set(msg_ids)) == len(ticks) + len(positions)
    facts = decoded(positions)
    opened = [f.ticket for f in facts if isinstance(f, PositionOpened)]
    closed = [f.ticket for f in facts if isinstance(f, PositionClosed)]
    assert opened == [e.ticket for e in history if isinstance(e, sim.PositionOpened)]
    assert closed == [e.ticket for e in history
                      if isinstance(e, sim.PositionClosed) and e.remaining_volume == 0]  # fmt: skip
    assert len(opened) >= 3
    assert len(closed) >= 1
    closes = {e.ticket: e for e in history if isinstance(e, sim.PositionClosed)}
    for fact in facts:
        if isinstance(fact, PositionClosed):
            assert fact.close_price == closes[fact.ticket].price_close
            assert fact.deal_ticket == closes[fact.ticket].deal
