"""Whether the bus answers: a heartbeat gap every agent shows at once is one bus problem.

The supervisor pings nats-server on its own connection. When the connection is lost, the
pings go unanswered for `silence_s`, or every live agent (two or more) went quiet on the
bus at once, the bus is the problem: it is reported once, when it starts and when it ends,
and no agent is blamed for the silence.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bus.schemas.base import utc_now

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BusSignals:
    """What the supervisor sees at one check (times in seconds on one monotonic clock)."""

    connected: bool
    unanswered_s: float
    """How long the supervisor's last ping has gone without a reply (0 when answered)."""
    agents_alive: int
    """Agents alive on their pipes and past their start (whose heartbeats can be judged)."""
    agents_silent: int
    """...of which no heartbeat arrived for the heartbeat timeout."""


def bus_trouble(signals: BusSignals, *, silence_s: float) -> str | None:
    """Why the bus counts as unreachable now, or None when it answers."""
    if not signals.connected:
        return "the supervisor's NATS connection is lost"
    if signals.unanswered_s > silence_s:
        return f"nats-server has not answered a ping for {signals.unanswered_s:.1f}s"
    if signals.agents_alive >= 2 and signals.agents_silent == signals.agents_alive:
        return (
            f"no heartbeat from any of the {signals.agents_alive} agents, all alive on their pipes"
        )
    return None


@dataclass
class BusProblem:
    cause: str
    started: datetime
    started_at: float
    ended: datetime | None = None
    lasted_s: float | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "cause": self.cause,
            "started": self.started.isoformat(),
            "ended": self.ended.isoformat() if self.ended else None,
            "lasted_s": None if self.lasted_s is None else round(self.lasted_s, 3),
        }


class BusWatch:
    """The bus's state over time: one `BusProblem` per outage, each logged once."""

    def __init__(self, *, silence_s: float) -> None:
        self.silence_s = silence_s
        self.problems: list[BusProblem] = []

    @property
    def current(self) -> BusProblem | None:
        last = self.problems[-1] if self.problems else None
        return last if last is not None and last.ended is None else None

    @property
    def ok(self) -> bool:
        return self.current is None

    def observe(self, signals: BusSignals, now: float) -> bool | None:
        """Update from `signals`; True when the bus just came back, False when it just went."""
        cause = bus_trouble(signals, silence_s=self.silence_s)
        current = self.current
        if current is None and cause is not None:
            self.problems.append(BusProblem(cause, utc_now(), now))
            log.warning(
                "supervisor: bus problem: %s; agents are alive, none is restarted for it",
                cause,
            )
            return False
        if current is not None and cause is None:
            current.ended = utc_now()
            current.lasted_s = now - current.started_at
            log.warning(
                "supervisor: bus answering again after %.1fs; heartbeat timers restart",
                current.lasted_s,
            )
            return True
        return None

    def as_json(self) -> dict[str, Any]:
        """The bus as `mtq.agents.list` reports it."""
        current = self.current
        return {
            "state": "ok" if current is None else "unreachable",
            "problems": len(self.problems),
            "current": current.as_json() if current else None,
            "last": self.problems[-1].as_json() if self.problems else None,
        }
