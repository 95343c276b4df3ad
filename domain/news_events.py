"""The decisions of the news-blackout rule (domain/news_rule.py), and how each evolves state.

`CalendarImported` is an input (engine/inputs.py): the calendar in force from that point,
its digest recomputed from the events when the audit redoes it.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from domain.events import RiskEvent

if TYPE_CHECKING:
    from domain.account import AccountRisk


def _news_state(aggregate: AccountRisk) -> dict[str, Any]:
    state: dict[str, Any] = aggregate.__dict__.setdefault("_news", {"opened": []})
    return state


class CalendarImported(RiskEvent):
    """The news calendar in force from now: `events` in plain form (domain/news.py), by
    `actor` (who imported it) from `source` (a file name)."""

    digest: str
    source: str
    actor: str
    count: int
    events: list[list[Any]]

    def apply(self, aggregate: AccountRisk) -> None:
        aggregate.__dict__["_calendar"] = {
            "digest": self.digest,
            "source": self.source,
            "events": [list(e) for e in self.events],
        }
        aggregate.__dict__.pop("_calendar_cache", None)


class NewsWindowOpened(RiskEvent):
    """A blackout window opened with positions on targeted symbols: from `start` to `end`
    they may be neither opened nor closed (`positions`: their identifiers)."""

    event: str
    key: str
    start: datetime
    end: datetime
    positions: tuple[int, ...]

    def apply(self, aggregate: AccountRisk) -> None:
        opened: list[str] = _news_state(aggregate)["opened"]
        opened.append(self.key)
        del opened[:-64]  # only windows near now are ever looked up again


class NewsStopNearWindow(RiskEvent):
    """An alert: a targeted position's SL or TP lies within `warn_pips` of `reference` as
    the window opens; a stop filled inside the window is a violation too."""

    event: str
    identifier: int
    symbol: str
    sl: Decimal
    tp: Decimal
    reference: Decimal
    distance_pips: Decimal
    warn_pips: Decimal
    reason: str


class NewsWindowViolation(RiskEvent):
    """A deal on a targeted symbol inside a blackout window that mtq did not order:
    `deal` is `opened` or `closed` (`deal_reason`: the broker's, e.g. sl, tp, client)."""

    event: str
    deal: str
    identifier: int
    symbol: str
    deal_reason: str
    start: datetime
    end: datetime
    reason: str
