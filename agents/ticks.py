"""Which polled ticks are new, and their deterministic message ids."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from agents.terminal.mt5.structures import Tick


@dataclass
class SymbolCursor:
    """The last tick published for a symbol: its time and how many shared that millisecond."""

    last_msc: int = -1
    at_last: int = 0
    last_key: tuple[float, float] | None = None
    min_gap_ms: int = 0
    """Smallest spacing seen between consecutive ticks (0: none seen yet)."""

    def may_have_skipped(self, msc: int, poll_interval_ms: float) -> bool:
        """Whether ticks could lie between the last published one and a tick at `msc`."""
        if self.last_msc < 0:
            return False
        gap = msc - self.last_msc
        return gap > poll_interval_ms and (self.min_gap_ms == 0 or gap >= 1.5 * self.min_gap_ms)

    def is_new(self, tick: Tick) -> bool:
        msc = tick.time_msc
        if msc != self.last_msc:
            return msc > self.last_msc
        return (tick.bid, tick.ask) != self.last_key

    def take(self, ticks: Iterable[Tick]) -> list[tuple[Tick, int]]:
        """Ticks (oldest first) after the cursor, each with its sequence within its msc."""
        out: list[tuple[Tick, int]] = []
        skip = self.at_last
        for tick in ticks:
            msc = tick.time_msc
            if msc < self.last_msc:
                continue
            if msc == self.last_msc:
                if skip > 0:
                    skip -= 1
                    continue
                seq = self.at_last
                self.at_last += 1
            else:
                if self.last_msc >= 0:
                    gap = msc - self.last_msc
                    self.min_gap_ms = gap if self.min_gap_ms == 0 else min(self.min_gap_ms, gap)
                self.last_msc, self.at_last, seq = msc, 1, 0
            self.last_key = (tick.bid, tick.ask)
            out.append((tick, seq))
        return out
