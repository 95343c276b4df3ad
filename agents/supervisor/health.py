"""Agent health from its latest heartbeat: a pure function of heartbeat, config and time."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bus.schemas import AgentHeartbeat
from config import AgentConfig


class Health(StrEnum):
    UNKNOWN = "UNKNOWN"
    HEALTHY = "HEALTHY"
    DEGRADED = "DEGRADED"
    UNHEALTHY = "UNHEALTHY"


class Reason(StrEnum):
    """Why an agent is not HEALTHY; the value is the machine-readable code."""

    NO_HEARTBEAT = "no_heartbeat"
    HEARTBEAT_MISSED = "heartbeat_missed"
    TERMINAL_DISCONNECTED = "terminal_disconnected"
    BREAKER_OPEN = "breaker_open"
    BREAKER_HALF_OPEN = "breaker_half_open"
    STALE_FEED = "stale_feed"
    SLOW_TERMINAL = "slow_terminal"
    OUTBOX_FULL = "outbox_full"
    UNRESPONSIVE = "unresponsive"
    BUS_UNREACHABLE = "bus_unreachable"


# The process itself is not doing its job: its own liveness pipe fell silent. Heartbeats
# that stop on the bus are not enough: a frozen nats-server silences every agent at once.
PROCESS_REASONS = frozenset({Reason.UNRESPONSIVE})


@dataclass(frozen=True)
class HealthReport:
    status: Health
    reasons: tuple[Reason, ...] = ()
    details: tuple[str, ...] = ()

    @property
    def process_hung(self) -> bool:
        """True when the process gave no sign of life on its pipe: a restart is due."""
        return any(r in PROCESS_REASONS for r in self.reasons)


UNKNOWN = HealthReport(Health.UNKNOWN)
BUS_UNREACHABLE = HealthReport(
    Health.UNKNOWN,
    (Reason.BUS_UNREACHABLE,),
    ("NATS is not answering: heartbeats cannot arrive (the process is alive)",),
)


FIRST_SIGN_S = 10.0
"""The least a new process is given for its first sign of life, whatever the heartbeat
timeout: a Python process importing its libraries on a loaded host takes seconds."""


def liveness_report(
    *, alive_at: float | None, started_at: float, now: float, timeout_s: float
) -> HealthReport | None:
    """UNHEALTHY (unresponsive) when the process's pipe was silent for `timeout_s`, else None.

    `alive_at`: when the last byte arrived on the pipe (None: none since the start).
    """
    since = started_at if alive_at is None else alive_at
    silent = now - since
    if silent <= (timeout_s if alive_at is not None else max(timeout_s, FIRST_SIGN_S)):
        return None
    detail = (
        f"no sign of life {silent:.1f}s after start"
        if alive_at is None
        else f"no sign of life for {silent:.1f}s"
    )
    return HealthReport(Health.UNHEALTHY, (Reason.UNRESPONSIVE,), (detail,))


def derive_health(
    heartbeat: AgentHeartbeat | None,
    *,
    received_at: float | None,
    started_at: float,
    now: float,
    agent: AgentConfig,
    heartbeat_timeout_s: float,
) -> HealthReport:
    """Classify an agent from its latest heartbeat.

    Times are seconds on one monotonic clock: `received_at` when the latest heartbeat
    arrived, `started_at` when the process was started. UNKNOWN until the first heartbeat
    (or UNHEALTHY once `heartbeat_timeout_s` passed without one); UNHEALTHY when the
    terminal is disconnected, the breaker is open or heartbeats stopped; DEGRADED on a stale
    feed, a half-open breaker, a slow terminal or a full outbox; else HEALTHY.
    """
    if heartbeat is None or received_at is None:
        waited = now - started_at
        if waited > heartbeat_timeout_s:
            return HealthReport(
                Health.UNHEALTHY,
                (Reason.NO_HEARTBEAT,),
                (f"no heartbeat {waited:.1f}s after start",),
            )
        return UNKNOWN

    unhealthy = _unhealthy(heartbeat, now - received_at, heartbeat_timeout_s)
    if unhealthy:
        return _report(Health.UNHEALTHY, unhealthy)
    degraded = _degraded(heartbeat, agent)
    if degraded:
        return _report(Health.DEGRADED, degraded)
    return HealthReport(Health.HEALTHY)


def _unhealthy(
    heartbeat: AgentHeartbeat, silent: float, heartbeat_timeout_s: float
) -> list[tuple[Reason, str]]:
    found: list[tuple[Reason, str]] = []
    if silent > heartbeat_timeout_s:
        found.append((Reason.HEARTBEAT_MISSED, f"last heartbeat {silent:.1f}s ago"))
    if not heartbeat.terminal_connected:
        found.append((Reason.TERMINAL_DISCONNECTED, "terminal disconnected"))
    if heartbeat.breaker_state == "open":
        found.append((Reason.BREAKER_OPEN, "circuit breaker open"))
    return found


def _degraded(heartbeat: AgentHeartbeat, agent: AgentConfig) -> list[tuple[Reason, str]]:
    found: list[tuple[Reason, str]] = []
    stale = sorted(
        (symbol, age)
        for symbol, age in heartbeat.last_tick_age_s.items()
        if age > agent.stale_feed_seconds
    )
    if stale:
        listed = ", ".join(f"{symbol} {age:.0f}s" for symbol, age in stale)
        found.append((Reason.STALE_FEED, f"stale feed: {listed}"))
    if heartbeat.breaker_state == "half_open":
        found.append((Reason.BREAKER_HALF_OPEN, "circuit breaker half-open"))
    if heartbeat.terminal_latency_ms > agent.slow_terminal_ms:
        found.append(
            (Reason.SLOW_TERMINAL, f"terminal latency {heartbeat.terminal_latency_ms:.0f} ms")
        )
    if heartbeat.outbox_full:
        found.append((Reason.OUTBOX_FULL, "outbox full"))
    return found


def _report(status: Health, found: list[tuple[Reason, str]]) -> HealthReport:
    return HealthReport(status, tuple(r for r, _ in found), tuple(d for _, d in found))
