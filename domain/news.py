"""News calendars and their blackout windows (`RiskRules.news_blackout`). Pure functions.

An event has a UTC time, the currencies or instruments it moves and an impact. A blackout
rule targets a symbol when the event lists it, or (`by_currency`) when its base or quote
currency is the event's (`XAUUSD`: XAU and USD, the first and last three letters of its
first six). Its window is `[time - before_minutes, time + after_minutes]`, both ends in.

A calendar is recorded in plain form (`Calendar.to_plain`); its digest is the SHA-256 of
that form's canonical JSON, so a calendar altered after import no longer matches it.
"""

from __future__ import annotations

import hashlib
import json
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any, Final, Literal

Impact = Literal["low", "medium", "high"]
IMPACTS: Final[tuple[Impact, ...]] = ("low", "medium", "high")
TargetMode = Literal["by_currency", "all"]


@dataclass(frozen=True, slots=True)
class NewsEvent:
    time: datetime
    impact: Impact
    title: str
    currencies: tuple[str, ...] = ()
    instruments: tuple[str, ...] = ()

    def to_plain(self) -> list[Any]:
        return [
            self.time.isoformat(),
            self.impact,
            self.title,
            list(self.currencies),
            list(self.instruments),
        ]

    @classmethod
    def from_plain(cls, data: list[Any]) -> NewsEvent:
        time, impact, title, currencies, instruments = data
        return cls(
            datetime.fromisoformat(time), impact, title, tuple(currencies), tuple(instruments)
        )

    @property
    def label(self) -> str:
        """How a denial names the event: `USD Non-Farm Payrolls (high) at 2026-03-06T13:30Z`."""
        moved = ",".join(self.currencies + self.instruments)
        return f"{moved} {self.title} ({self.impact}) at {self.time.isoformat()}"


def symbol_currencies(symbol: str) -> tuple[str, str]:
    """Base and quote currency of `symbol`: the first and last three of its first six letters."""
    letters = "".join(c for c in symbol.upper() if c.isalpha())[:6]
    return letters[:3], letters[-3:]


def at_least(impact: Impact, threshold: Impact) -> bool:
    return IMPACTS.index(impact) >= IMPACTS.index(threshold)


def targets(event: NewsEvent, symbol: str, mode: TargetMode) -> bool:
    """Whether `event` targets `symbol` under `mode`."""
    if mode == "all" or symbol in event.instruments:
        return True
    base, quote = symbol_currencies(symbol)
    return base in event.currencies or quote in event.currencies


@dataclass(frozen=True)
class Calendar:
    """Events sorted by time, with the digest of their recorded form."""

    events: tuple[NewsEvent, ...] = ()
    source: str = ""
    """The file's name (no directory), for people reading the log."""
    _times: tuple[datetime, ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.events, key=lambda e: (e.time, e.title, e.currencies)))
        object.__setattr__(self, "events", ordered)
        object.__setattr__(self, "_times", tuple(e.time for e in ordered))

    def to_plain(self) -> list[list[Any]]:
        return [e.to_plain() for e in self.events]

    @classmethod
    def from_plain(cls, data: list[list[Any]], source: str = "") -> Calendar:
        return cls(tuple(NewsEvent.from_plain(e) for e in data), source)

    @cached_property
    def digest(self) -> str:
        return calendar_digest(self.to_plain())

    def near(self, at: datetime, before: timedelta, after: timedelta) -> tuple[NewsEvent, ...]:
        """Events whose window `[time - before, time + after]` contains `at`."""
        lo = bisect_left(self._times, at - after)
        hi = bisect_right(self._times, at + before)
        return self.events[lo:hi]

    def between(self, start: datetime, end: datetime) -> tuple[NewsEvent, ...]:
        """Events with `start < time <= end`."""
        return self.events[bisect_right(self._times, start) : bisect_right(self._times, end)]


def calendar_digest(plain: list[list[Any]]) -> str:
    """`sha256:<hex>` of the canonical JSON of a calendar's plain form."""
    text = json.dumps(plain, separators=(",", ":"), ensure_ascii=False, sort_keys=True)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()
