"""What every benchmark module receives."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bus.embedded import EmbeddedNatsServer


@dataclass
class BenchContext:
    nats_url: str
    server: EmbeddedNatsServer
    work_dir: Path
    quick: bool = False
    baseline: dict[str, float] = field(default_factory=dict)

    def ratio(self, value: float, baseline_key: str) -> float:
        """`value` divided by the baseline measured earlier in this run."""
        base = self.baseline.get(baseline_key)
        return round(value / base, 3) if base else float("nan")


def median_rate(samples: list[float]) -> float:
    return round(statistics.median(samples), 1)


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started
