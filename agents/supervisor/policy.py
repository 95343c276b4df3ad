"""When the supervisor restarts an agent and when it forgives earlier failures."""

from __future__ import annotations

from dataclasses import dataclass, field

from agents.supervisor.health import Health, HealthReport
from bus.backoff import Backoff
from config import SupervisorConfig
from config.models import HEARTBEAT_TIMEOUT_S


@dataclass(frozen=True)
class RestartPolicy:
    """Timings that govern restarts.

    - A process that exits on its own is restarted after the backoff delay.
    - A process whose heartbeats stop (none for `heartbeat_timeout_s`) is hung: it is
      stopped (SIGTERM, then SIGKILL after `stop_timeout_s`) and restarted after the delay.
    - A terminal disconnect or an open breaker is the agent's own job to recover from
      (it reconnects with backoff); only when the agent stays UNHEALTHY for that reason for
      `unhealthy_restart_after_s` is it restarted as well.
    - The restart counter (and so the delay) resets once the agent has been up and not
      UNHEALTHY for `healthy_reset_after_s`.
    """

    backoff: Backoff = field(default_factory=Backoff)
    stop_timeout_s: float = 10.0
    heartbeat_timeout_s: float = HEARTBEAT_TIMEOUT_S
    check_interval_s: float = 1.0
    unhealthy_restart_after_s: float = 300.0
    healthy_reset_after_s: float = 600.0

    @classmethod
    def from_config(cls, config: SupervisorConfig) -> RestartPolicy:
        return cls(
            backoff=Backoff(
                config.restart_initial_delay_s, config.restart_factor, config.restart_max_delay_s
            ),
            stop_timeout_s=config.stop_timeout_s,
            heartbeat_timeout_s=config.heartbeat_timeout_s,
            check_interval_s=config.health_check_interval_s,
            unhealthy_restart_after_s=config.unhealthy_restart_after_s,
            healthy_reset_after_s=config.healthy_reset_after_s,
        )

    def restart_reason(
        self, report: HealthReport, *, unhealthy_since: float | None, now: float
    ) -> str | None:
        """Why the agent must be restarted now, or None to leave it running."""
        if report.status is not Health.UNHEALTHY:
            return None
        detail = "; ".join(report.details)
        if report.process_hung:
            return f"unresponsive: {detail}"
        if unhealthy_since is not None and now - unhealthy_since >= self.unhealthy_restart_after_s:
            lasted = now - unhealthy_since
            return f"unhealthy for {lasted:.0f}s: {detail}"
        return None

    def forgives(self, *, healthy_since: float | None, now: float) -> bool:
        """True when the agent has been up and not UNHEALTHY long enough to reset the counter."""
        return healthy_since is not None and now - healthy_since >= self.healthy_reset_after_s
