"""Circuit breaker for terminal calls: CLOSED → OPEN → HALF_OPEN → CLOSED."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

BreakerState = Literal["closed", "open", "half_open"]


class CircuitBreaker:
    """Opens after `failure_threshold` consecutive failures; probes after `recovery_seconds`.

    In HALF_OPEN at most `half_open_max_calls` calls are let through; one success closes the
    breaker, one failure opens it again for another `recovery_seconds`.
    """

    def __init__(
        self,
        failure_threshold: int = 5,
        recovery_seconds: float = 10.0,
        half_open_max_calls: int = 1,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1 or half_open_max_calls < 1 or recovery_seconds <= 0:
            raise ValueError("breaker thresholds must be positive")
        self.failure_threshold = failure_threshold
        self.recovery_seconds = recovery_seconds
        self.half_open_max_calls = half_open_max_calls
        self._clock = clock
        self._state: BreakerState = "closed"
        self._failures = 0
        self._opened_at = 0.0
        self._half_open_calls = 0
        self.times_opened = 0

    @property
    def state(self) -> BreakerState:
        if self._state == "open" and self._clock() - self._opened_at >= self.recovery_seconds:
            self._state = "half_open"
            self._half_open_calls = 0
        return self._state

    def allow(self) -> bool:
        """Tell whether a call may go through now (counts HALF_OPEN probes)."""
        state = self.state
        if state == "closed":
            return True
        if state == "open":
            return False
        if self._half_open_calls < self.half_open_max_calls:
            self._half_open_calls += 1
            return True
        return False

    def seconds_until_probe(self) -> float:
        if self.state != "open":
            return 0.0
        return max(0.0, self.recovery_seconds - (self._clock() - self._opened_at))

    def record_success(self) -> None:
        self._failures = 0
        self._state = "closed"
        self._half_open_calls = 0

    def record_failure(self) -> None:
        self._failures += 1
        state = self.state
        if state == "half_open" or (state == "closed" and self._failures >= self.failure_threshold):
            self._trip()

    def _trip(self) -> None:
        self._state = "open"
        self._opened_at = self._clock()
        self._half_open_calls = 0
        self.times_opened += 1
