"""Heartbeat facts: liveness, terminal health, breaker state and outbox fill."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from bus import subjects
from bus.codec import encode, fact_msg_id
from bus.schemas import AgentHeartbeat
from bus.schemas.base import BreakerState, from_msc


@dataclass(frozen=True)
class HealthReport:
    terminal_connected: bool
    breaker_state: BreakerState
    terminal_latency_ms: float
    last_tick_age_s: Mapping[str, float]
    events_buffered: int
    outbox_full: bool
    outbox_dropped: int
    last_error: str
    server_utc_offset_s: int | None = None


class HeartbeatMaker:
    """Numbers heartbeats; the msg id is the agent's start time plus the sequence."""

    def __init__(
        self,
        account_id: str,
        started_ms: int,
        agent_id: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`clock` is the agent's UTC clock, the one its snapshots are stamped with: the
        engine times the stale-feed and schedule rules by heartbeats."""
        self.clock = clock
        self.account_id = account_id
        self.started_ms = started_ms
        self.agent_id = agent_id or f"agent-{account_id}"
        self.subject = subjects.health(account_id)
        self.sequence = 0

    def next(self, report: HealthReport) -> tuple[str, bytes]:
        """(msg id, payload) of the next heartbeat."""
        self.sequence += 1
        beat = AgentHeartbeat(
            account_id=self.account_id,
            agent_id=self.agent_id,
            pid=os.getpid(),
            sequence=self.sequence,
            terminal_connected=report.terminal_connected,
            breaker_state=report.breaker_state,
            terminal_latency_ms=round(report.terminal_latency_ms, 3),
            last_tick_age_s={k: round(v, 3) for k, v in report.last_tick_age_s.items()},
            events_buffered=report.events_buffered,
            outbox_full=report.outbox_full,
            outbox_dropped=report.outbox_dropped,
            last_error=report.last_error[:500],
            time=from_msc(int(self.clock() * 1000)),
            server_utc_offset_s=report.server_utc_offset_s,
        )
        msg_id = fact_msg_id(self.account_id, "health", f"{self.started_ms}-{self.sequence}")
        return msg_id, encode(beat)
