"""Exponential backoff, the one formula of mtq's retries.

Agent and service restarts, nats-server restarts, webhook deliveries and reconnects (with
jitter on top, `agents.backoff`) all wait `initial_s * factor**n`, capped at `max_s`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """Delay before restart number `n + 1` is `initial_s * factor**n`, capped at `max_s`."""

    initial_s: float = 60.0
    factor: float = 2.0
    max_s: float = 3600.0

    def __post_init__(self) -> None:
        if self.initial_s <= 0 or self.max_s <= 0:
            raise ValueError("backoff delays must be positive")
        if self.factor < 1:
            raise ValueError("backoff factor must be at least 1")

    def delay(self, failures_before: int) -> float:
        """Seconds to wait before restarting after `failures_before` earlier restarts."""
        if failures_before < 0:
            raise ValueError("failures_before must not be negative")
        delay = self.initial_s
        for _ in range(failures_before):
            delay *= self.factor
            if delay >= self.max_s:
                return self.max_s
        return min(delay, self.max_s)
