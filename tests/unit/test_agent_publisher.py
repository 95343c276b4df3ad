"""The publisher as `build_agent()` wires it, against a fake NATS client and a simulator: ticks
without acks, facts with acks and the outbox, outages, lost and refused acks, duplicates."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import pytest
from nats.aio.client import Client

from agents.agent import Agent, AgentTuning, build_agent
from agents.harness import simulator_account
from agents.outbox import PRIORITY_ACCOUNT, OutgoingFact
from agents.terminal.async_terminal import AsyncTerminal
from agents.terminal.mt5 import constants as c
from agents.terminal.simulator import ManualClock, SimulatedTerminal, SimulatorSettings
from tests.support import eventually
from tests.unit.test_agent_support import FakeNats, utc

EURUSD = tuple(s for s in SimulatorSettings().symbols if s.name == "EURUSD")


@dataclass
class Wired:
    agent: Agent
    nats: FakeNats
    sim: SimulatedTerminal
    clock: ManualClock
    stop: asyncio.Event

    async def poll(self, rounds: int = 1) -> None:
        for _ in range(rounds):
            self.clock.advance(0.5)
            assert await self.agent.session.ensure_connected()
            await self.agent.poll_once()

    def start(self) -> asyncio.Task[None]:
        return asyncio.create_task(self.agent.publisher.run(self.stop))

    def settled(self) -> bool:
        return not self.agent.publisher.pending


@pytest.fixture
async def wired(tmp_path: Path) -> AsyncIterator[Wired]:
    clock = ManualClock(utc("2026-01-06T10:00:00"))
    sim = SimulatedTerminal(SimulatorSettings(seed=2, symbols=EURUSD), clock)
    nats = FakeNats()
    agent = build_agent(
        simulator_account("pub"),
        terminal=AsyncTerminal(sim, inline=True),
        nats_url="nats://fake",
        data_dir=tmp_path,
        nc=cast(Client, nats),
        tuning=AgentTuning(ack_timeout_s=0.2, consume_commands=False, provision=False),
        clock=clock.now,
    )
    made = Wired(agent, nats, sim, clock, asyncio.Event())
    yield made
    made.stop.set()
    agent.conn.close()


async def test_publisher_when_connected_then_ticks_unacked_facts_acked_position_via_outbox(
    wired: Wired,
) -> None:
    wired.sim.open_position("EURUSD", c.POSITION_TYPE_BUY, 0.1)
    await wired.poll(3)
    task = wired.start()
    await eventually(wired.settled, timeout=5, message="everything published")
    stats = wired.agent.publisher.stats
    ticks = [(s, ack) for s, _, ack in wired.nats.sent if ".tick." in s]
    assert ticks
    assert all(not ack for _, ack in ticks)  # ticks never wait for an ack
    others = [(s, ack) for s, _, ack in wired.nats.sent if ".tick." not in s]
    assert ("mt5.pub.position.opened", True) in others
    assert ("mt5.pub.account", True) in others
    assert stats.ticks_unacked == len(ticks)
    assert stats.from_outbox == 1  # the position fact went through the outbox (its state)
    assert stats.failures == stats.duplicates == 0
    assert [m for _, m in wired.nats.stored] == [m for _, m, _ in wired.nats.sent]
    wired.stop.set()
    await task


async def test_publisher_when_nats_down_then_facts_kept_in_outbox_and_sent_in_order_when_back(
    wired: Wired,
) -> None:
    wired.nats.is_connected = False
    task = wired.start()
    wired.sim.open_position("EURUSD", c.POSITION_TYPE_SELL, 0.2)
    await wired.poll(4)
    await eventually(lambda: wired.agent.publisher.queued == 0, timeout=5,
                     message="queued facts moved to the outbox")  # fmt: skip
    kept = [f.msg_id for f in wired.agent.outbox.peek(10_000)]
    assert len(kept) == wired.agent.publisher.pending > 4
    assert wired.nats.sent == []
    wired.nats.is_connected = True
    wired.agent.publisher.wake()
    await eventually(wired.settled, timeout=5, message="outbox drained")
    assert [m for _, m, _ in wired.nats.sent] == kept  # in the order they were read
    assert all(ack for _, _, ack in wired.nats.sent)  # from the outbox every fact is acked
    assert wired.agent.publisher.stats.from_outbox == len(kept)
    wired.stop.set()
    await task


def _snapshots(n: int) -> list[OutgoingFact]:
    return [
        OutgoingFact("mt5.pub.account", f"pub:account:{i}", b"{}", PRIORITY_ACCOUNT)
        for i in range(n)
    ]


async def test_publisher_when_acks_lost_then_facts_stored_and_resent_as_counted_duplicates(
    wired: Wired,
) -> None:
    wired.nats.acks = "lost"
    task = wired.start()
    wired.agent.publisher.submit_many(_snapshots(3))
    await eventually(lambda: len(wired.agent.outbox) == 3, timeout=5,
                     message="unacknowledged facts in the outbox")  # fmt: skip
    stats = wired.agent.publisher.stats
    assert stats.failures >= 1
    assert "ack timed out" in wired.agent.publisher.last_error
    wired.nats.acks = "ok"
    await eventually(wired.settled, timeout=5, message="re-sent")
    assert stats.duplicates == 3  # the stream had them: a replay, not new facts
    assert stats.last_duplicate == "pub:account:2"
    assert [m for _, m in wired.nats.stored] == [f"pub:account:{i}" for i in range(3)]
    wired.stop.set()
    await task


async def test_publisher_when_stream_refuses_then_fact_waits_in_outbox_until_stored(
    wired: Wired,
) -> None:
    wired.nats.acks = "refused"
    task = wired.start()
    wired.agent.publisher.submit_many(_snapshots(2))
    await eventually(lambda: len(wired.agent.outbox) == 2, timeout=5,
                     message="refused facts in the outbox")  # fmt: skip
    assert "storage full" in wired.agent.publisher.last_error
    assert wired.nats.stored == []
    wired.nats.acks = "ok"
    await eventually(wired.settled, timeout=5, message="stored at last")
    assert [m for _, m in wired.nats.stored] == ["pub:account:0", "pub:account:1"]
    assert wired.agent.publisher.stats.duplicates == 0
    wired.stop.set()
    await task


async def test_publisher_when_stopped_with_nats_down_then_queued_facts_flushed_to_outbox(
    wired: Wired,
) -> None:
    wired.nats.is_connected = False
    wired.agent.publisher.submit_many(_snapshots(4))
    wired.stop.set()
    await wired.start()
    assert len(wired.agent.outbox) == 4
    assert wired.agent.publisher.queued == 0
