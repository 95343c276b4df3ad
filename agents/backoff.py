"""Exponential backoff with jitter for reconnect attempts."""

from __future__ import annotations

import random

from bus.backoff import Backoff as Curve


class Backoff:
    """Delays `initial`, `initial*factor`, … capped at `maximum` (`bus.backoff`), each ±
    `jitter` (a fraction)."""

    def __init__(
        self,
        initial: float = 0.5,
        maximum: float = 30.0,
        factor: float = 2.0,
        jitter: float = 0.2,
        *,
        rng: random.Random | None = None,
    ) -> None:
        if initial <= 0 or maximum < initial or factor < 1 or not 0 <= jitter <= 1:
            raise ValueError("invalid backoff settings")
        self.initial = initial
        self.maximum = maximum
        self.factor = factor
        self.jitter = jitter
        self._rng = rng or random.Random()
        self._curve = Curve(initial, factor, maximum)
        self.attempts = 0

    def next_delay(self) -> float:
        """The delay before the next attempt; grows with each call until `reset`."""
        base = self._curve.delay(self.attempts)
        self.attempts += 1
        spread = base * self.jitter
        return max(0.0, min(self.maximum, base + self._rng.uniform(-spread, spread)))

    def reset(self) -> None:
        self.attempts = 0
