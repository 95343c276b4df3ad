"""Helpers for the agent unit tests (no tests here): an agent wired by `build_agent` around a
simulator on a manual clock without NATS, and fakes for NATS and the terminal."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
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


# --- fakes for the NATS side and the terminal side --------------------------------------------


@dataclass
class FakeMsg:
    subject: str
    data: bytes
    headers: dict[str, str] | None = None


class FakeJetStream:
    """What the agent does with `nc.jetstream()` directly: heartbeats."""

    def __init__(self, nats: FakeNats) -> None:
        self._nats = nats

    async def publish(self, subject: str, payload: bytes, **kwargs: Any) -> None:
        if not self._nats.is_connected:
            raise ConnectionError("fake NATS is down")
        self._nats.heartbeats.append((subject, payload))


class FakeNats:
    """Enough of `nats.aio.client.Client` for the agent's link and publisher: publishes are
    recorded; a fake stream stores them by Nats-Msg-Id (a second one is a duplicate) and
    answers on the reply subject. `acks`: "ok", "lost" (stored, no answer) or "refused"
    (not stored, an API error answer); `is_connected` switches the connection."""

    def __init__(self) -> None:
        self.is_connected = True
        self.acks = "ok"
        self.sent: list[tuple[str, str, bool]] = []
        """(subject, msg id, asked for an ack) per publish, in order."""
        self.stored: list[tuple[str, str]] = []
        """(subject, msg id) the stream kept, in order."""
        self.heartbeats: list[tuple[str, bytes]] = []
        self._ids: set[str] = set()
        self._subs: list[tuple[str, Callable[[FakeMsg], Coroutine[Any, Any, None]]]] = []
        self._tasks: set[asyncio.Task[None]] = set()

    def jetstream(self) -> FakeJetStream:
        return FakeJetStream(self)

    def new_inbox(self) -> str:
        return "_INBOX.fake"

    async def subscribe(
        self, subject: str, cb: Callable[[FakeMsg], Coroutine[Any, Any, None]]
    ) -> object:
        self._subs.append((subject.removesuffix("*"), cb))
        return object()

    async def publish(self, subject: str, payload: bytes, reply: str = "",
                      headers: dict[str, str] | None = None) -> None:  # fmt: skip
        if not self.is_connected:
            raise ConnectionError("fake NATS is down")
        msg_id = (headers or {})["Nats-Msg-Id"]
        self.sent.append((subject, msg_id, bool(reply)))
        duplicate = msg_id in self._ids
        if self.acks != "refused" and not duplicate:
            self._ids.add(msg_id)
            self.stored.append((subject, msg_id))
        if not reply or self.acks == "lost":
            return
        answer: dict[str, Any]
        if self.acks == "refused":
            answer = {"error": {"code": 503, "description": "storage full"}}
        else:
            answer = {"stream": "MT5", "seq": len(self.stored), "duplicate": duplicate}
        for prefix, cb in self._subs:
            if reply.startswith(prefix):
                task = asyncio.get_running_loop().create_task(
                    cb(FakeMsg(reply, json.dumps(answer).encode()))
                )
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def flush(self) -> None:
        return None

    async def close(self) -> None:
        self.is_connected = False


class FakeTerminal:
    """A simulator behind a switchboard: `fail[name] = (code, text)` makes that call return
    None with that `last_error`, `raise_on` makes it raise; every call is recorded."""

    def __init__(self, sim: SimulatedTerminal) -> None:
        self.sim = sim
        self.fail: dict[str, tuple[int, str]] = {}
        self.raise_on: set[str] = set()
        self.calls: list[str] = []
        self.states: list[str] = []
        self._error: tuple[int, str] | None = None

    def __getattr__(self, name: str) -> Any:
        real = getattr(self.sim, name)
        if not callable(real):
            return real

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            if name in self.raise_on:
                raise RuntimeError(f"{name} exploded")
            if name in self.fail:
                self._error = self.fail[name]
                return None
            self._error = None
            return real(*args, **kwargs)

        return call

    def last_error(self) -> tuple[int, str]:
        return self._error if self._error is not None else self.sim.last_error()

    def set_trading_state(self, state: str) -> None:
        self.states.append(state)
        self.sim.set_trading_state(state)

    def count(self, name: str) -> int:
        return self.calls.count(name)
