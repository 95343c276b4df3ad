"""Helpers for the agent unit tests: an agent wired by `build_agent` around a simulator on a
manual clock, without NATS (no tests here)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agents.agent import Agent, AgentTuning, build_agent
from agents.harness import simulator_account
from agents.terminal.async_terminal import AsyncTerminal
from agents.terminal.simulator import ManualClock, SimulatedTerminal, SimulatorSettings
from bus.codec import decode_fact
from bus.schemas.base import Message

HOUR_MS = 3_600_000


def utc(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


class Rig:
    """An agent wired by `build_agent` around a simulator on a manual clock; never connects
    to NATS, so whatever it publishes stays in the publisher's queue and the outbox."""

    def __init__(self, tmp: Path, start: float, symbols: tuple[str, ...], **settings: Any) -> None:
        self.clock = ManualClock(start)
        specs = tuple(s for s in SimulatorSettings().symbols if s.name in symbols)
        self.sim = SimulatedTerminal(SimulatorSettings(seed=7, symbols=specs, **settings),
                                     self.clock)  # fmt: skip
        account = simulator_account("rules", symbols=[{"name": s} for s in symbols])
        self.agent: Agent = build_agent(
            account,
            terminal=AsyncTerminal(self.sim, inline=True),
            nats_url="nats://127.0.0.1:1",
            data_dir=tmp,
            tuning=AgentTuning(consume_commands=False),
            clock=self.clock.now,
        )
        self.agent.executor.retry_delay_s = 0.0

    async def poll(self, seconds: float = 0.0) -> None:
        if seconds:
            self.clock.advance(seconds)
        assert await self.agent.session.ensure_connected()
        await self.agent.poll_once()

    def published(self) -> list[Message]:
        """Everything handed to the publisher: queued in memory and in the outbox, in order."""
        queued = [(f.subject, f.payload) for f in self.agent.publisher._queue]
        stored = [(f.subject, f.payload) for f in self.agent.outbox.peek(100_000)]
        return [decode_fact(s, p) for s, p in stored + queued]

    def of(self, kind: type[Any]) -> list[Any]:
        return [f for f in self.published() if isinstance(f, kind)]

    def close(self) -> None:
        self.agent.conn.close()
