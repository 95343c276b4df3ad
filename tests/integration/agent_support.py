"""Helpers for the agent's integration tests: read streams, build simulators."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nats.aio.client import Client
from nats.aio.msg import Msg

from agents.terminal.simulator.clock import SimClock
from agents.terminal.simulator.settings import (
    DEFAULT_SYMBOLS,
    FaultSpec,
    SimulatorSettings,
    StrategySpec,
)
from agents.terminal.simulator.terminal import SimulatedTerminal
from bus.codec import decode_fact
from bus.schemas.base import Message
from tests.support import eventually


async def read_subject(nc: Client, subject: str, *, idle: float = 0.5) -> list[Msg]:
    """Messages stored on `subject` (wildcards allowed) up to now, oldest first."""
    js = nc.jetstream()
    sub = await js.subscribe(subject, ordered_consumer=True)
    out: list[Msg] = []
    try:
        while True:
            try:
                msg = await sub.next_msg(timeout=idle)
            except TimeoutError:
                return out
            out.append(msg)
            if msg.metadata.num_pending == 0:  # caught up with what was stored at the start
                return out
    finally:
        await sub.unsubscribe()


def decoded(msgs: list[Msg]) -> list[Message]:
    return [decode_fact(m.subject, m.data) for m in msgs]


def simulator(
    *,
    symbols: tuple[str, ...] = ("EURUSD",),
    strategy: StrategySpec | None = None,
    faults: tuple[FaultSpec, ...] = (),
    clock: SimClock | None = None,
    seed: int = 3,
    **kwargs: Any,
) -> SimulatedTerminal:
    specs = tuple(s for s in DEFAULT_SYMBOLS if s.name in symbols)
    settings = SimulatorSettings(
        seed=seed,
        symbols=specs,
        strategy=strategy or StrategySpec(kind="none"),
        faults=faults,
        **kwargs,
    )
    return SimulatedTerminal(settings, clock)


async def until(check: Callable[[], Any], **kwargs: Any) -> Any:
    """`tests.support.eventually` for sync or async checks, typed loosely for mypy."""
    return await eventually(check, **kwargs)
