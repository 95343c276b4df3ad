"""The broker server's UTC offset, measured from fresh ticks, so every wire time is true UTC.

MT5 stamps ticks, positions and deals with the server's wall clock (often UTC+2/+3, following
US or EU DST) written as if it were UTC. A tick that has just arrived was stamped moments ago,
so its time minus the agent's UTC clock is the offset plus a small delay: rounded to 15
minutes (the finest offset any zone has) it is the offset.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Final

log = logging.getLogger(__name__)

QUANTUM_MS: Final = 15 * 60 * 1000
MIN_OFFSET_MS: Final = -12 * 3_600_000
MAX_OFFSET_MS: Final = 14 * 3_600_000
RECHECK_S: Final = 0.0
"""How often a fresh tick is compared again: every one (a subtraction), so a DST change is
taken at the second fresh tick after it (two readings must agree: one late tick is not a
change) and at most one poll's ticks of one symbol carry the old offset."""


def round_offset(diff_ms: int) -> int:
    return round(diff_ms / QUANTUM_MS) * QUANTUM_MS


class ServerClock:
    """The measured offset and conversions; `observe` fresh ticks, `expire` after reconnects."""

    def __init__(
        self, now: Callable[[], float] = time.time, *, recheck_s: float = RECHECK_S
    ) -> None:
        self._now = now
        self.recheck_s = recheck_s
        self.offset_ms: int | None = None
        """None until measured; conversions then assume 0."""
        self.confirmed = False
        """True once a fresh tick gave the offset (a provisional one comes from any tick)."""
        self._checked_at = -1e18
        self._candidate: int | None = None
        self.changes = 0

    @property
    def offset_s(self) -> int | None:
        return None if self.offset_ms is None or not self.confirmed else self.offset_ms // 1000

    def due(self) -> bool:
        """Whether the next fresh tick should be measured."""
        return not self.confirmed or self._now() - self._checked_at >= self.recheck_s

    def expire(self) -> None:
        """Measure again on the next fresh tick (after a reconnect: the server may differ)."""
        self._checked_at = -1e18

    def observe(self, server_msc: int, *, fresh: bool) -> None:
        """A tick's raw time; `fresh` when it arrived since the previous poll."""
        if not fresh and self.offset_ms is not None:
            return
        now = self._now()
        offset = round_offset(server_msc - int(now * 1000))
        if not MIN_OFFSET_MS <= offset <= MAX_OFFSET_MS:
            return  # an old tick (market closed): tells nothing about the offset
        if not fresh:  # the first tick ever seen: a provisional offset beats none
            self.offset_ms = offset
            return
        self._checked_at = now
        if offset == self.offset_ms:
            self._candidate = None
            self.confirmed = True
            return
        if self.confirmed and offset != self._candidate:
            self._candidate = offset  # one late tick is not a DST change: wait for a second
            self._checked_at = now - self.recheck_s  # look again at the next fresh tick
            return
        if self.offset_ms is not None:
            log.info("server UTC offset %s -> %+.2f h", _hours(self.offset_ms), offset / 3.6e6)
            self.changes += 1
        self.offset_ms, self.confirmed, self._candidate = offset, True, None

    def to_utc(self, server_msc: int) -> int:
        """A raw server time in true UTC milliseconds."""
        return server_msc - (self.offset_ms or 0) if server_msc else 0


def _hours(offset_ms: int) -> str:
    return f"{offset_ms / 3.6e6:+.2f} h"
