"""Trading sessions in server time: when a symbol accepts orders."""

from __future__ import annotations

from typing import Final

from agents.terminal.simulator.server_time import DAY_MS

FOREX_WEEK: Final = ((1, 0, 1440), (2, 0, 1440), (3, 0, 1440), (4, 0, 1440), (5, 0, 1435))
"""Monday 00:00 to Friday 23:55 server time (a UTC+2/+3 server's forex week)."""


def in_session(sessions: tuple[tuple[int, int, int], ...], server_msc: int) -> bool:
    """Whether `server_msc` falls in one of the sessions (none: always open)."""
    if not sessions:
        return True
    day = (server_msc // DAY_MS + 4) % 7  # 1970-01-01 was a Thursday; 0 = Sunday
    minute = (server_msc % DAY_MS) // 60_000
    return any(d == day and start <= minute < end for d, start, end in sessions)
