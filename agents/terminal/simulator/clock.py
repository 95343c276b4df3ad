"""Clocks that drive the simulator: wall time for live runs, a manual clock for tests."""

from __future__ import annotations

import time
from typing import Protocol


class SimClock(Protocol):
    """A source of the current time in seconds since the Unix epoch."""

    def now(self) -> float: ...


class WallClock:
    """The system clock."""

    def now(self) -> float:
        return time.time()


class ManualClock:
    """A clock that only moves when told to; the same sequence of moves gives the same run."""

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self._now = start

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> float:
        """Move forward by `seconds` and return the new time."""
        if seconds < 0:
            raise ValueError(f"a clock cannot go back (advance by {seconds})")
        self._now += seconds
        return self._now

    def set(self, when: float) -> None:
        """Jump to `when` (not earlier than now)."""
        if when < self._now:
            raise ValueError(f"a clock cannot go back ({when} < {self._now})")
        self._now = when
