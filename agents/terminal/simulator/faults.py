"""Which injected faults are active at a moment of simulated time."""

from __future__ import annotations

import random

from agents.terminal.simulator.settings import FaultSpec


class FaultSchedule:
    """The configured faults, their on/off transitions, and seeded per-call dice rolls."""

    def __init__(self, faults: tuple[FaultSpec, ...], seed: int) -> None:
        self.faults = faults
        self._rng = random.Random(f"{seed}:faults")
        self._on: set[int] = set()

    def transitions(self, elapsed_s: float) -> list[tuple[FaultSpec, bool]]:
        """Faults that switched on (True) or off (False) since the last call."""
        changes: list[tuple[FaultSpec, bool]] = []
        for index, fault in enumerate(self.faults):
            now_on = fault.active(elapsed_s)
            if now_on != (index in self._on):
                changes.append((fault, now_on))
                if now_on:
                    self._on.add(index)
                else:
                    self._on.discard(index)
        return changes

    def active(self, kind: str, elapsed_s: float, symbol: str | None = None) -> FaultSpec | None:
        """The first active fault of `kind` that applies to `symbol` (None applies to all)."""
        for fault in self.faults:
            if fault.kind != kind or not fault.active(elapsed_s):
                continue
            if fault.symbol is None or symbol is None or fault.symbol == symbol:
                return fault
        return None

    def strikes(self, kind: str, elapsed_s: float, symbol: str | None = None) -> bool:
        """Whether an active fault of `kind` hits this call (rolled against its probability)."""
        fault = self.active(kind, elapsed_s, symbol)
        if fault is None:
            return False
        if fault.probability >= 1.0:
            return True
        return self._rng.random() < fault.probability
