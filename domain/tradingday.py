"""Trading days bounded by a local reset time in an IANA zone, DST-correct.

The trading day `d` starts at `reset_time` on local date `d` and ends where day `d + 1`
starts. A reset time that does not exist on a spring-forward date is read with the offset
in force before the change (PEP 495, fold=0: 02:30 becomes 03:30 summer time); one that
occurs twice on a fall-back date is its first occurrence.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

_ONE_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class TradingDay:
    """One trading day: its label (the local date it starts on) and its UTC bounds."""

    day: date
    start: datetime
    end: datetime


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _reset(reset_time: str) -> time:
    hours, minutes = reset_time.split(":")
    return time(int(hours), int(minutes))


def day_start(day: date, reset_time: str, timezone: str) -> datetime:
    """The UTC instant trading day `day` starts."""
    local = datetime.combine(day, _reset(reset_time), tzinfo=_zone(timezone))
    return local.astimezone(UTC)


def trading_day(at: datetime, reset_time: str, timezone: str) -> TradingDay:
    """The trading day that contains the instant `at` (timezone-aware)."""
    label = at.astimezone(_zone(timezone)).date()
    start = day_start(label, reset_time, timezone)
    if at < start:
        label -= _ONE_DAY
        start = day_start(label, reset_time, timezone)
    end = day_start(label + _ONE_DAY, reset_time, timezone)
    if at >= end:  # only when a reset time is skipped by a DST change
        label += _ONE_DAY
        start, end = end, day_start(label + _ONE_DAY, reset_time, timezone)
    return TradingDay(label, start, end)
