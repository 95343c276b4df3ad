"""The news-blackout rule of `AccountRisk` (domain/news.py has the calendar arithmetic).

- Pre-trade denies opening and closing a targeted symbol inside a window
  (`blackout_reasons`, passed to domain/pretrade.py); holding is allowed.
- At a window's opening (the first snapshot or heartbeat in it) with targeted positions
  open: `NewsWindowOpened`, and `NewsStopNearWindow` for each whose SL or TP lies within
  `sl_tp_warn_pips` of its reference price.
- A targeted deal inside a window that mtq did not order: `NewsWindowViolation`. No order
  inside a window is ever approved, so every open there is one, and every close but those
  mtq itself ordered (a ClosePosition or CloseAll not yet answered).

Time comes from facts: the deal's own time, the snapshot's or heartbeat's, and at
pre-trade the request's receive time.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from domain import news_events as nev
from domain.inputs import ClosedPosition, FactRef, PositionState
from domain.news import Calendar, NewsEvent, at_least, targets
from domain.position_rules import PositionRules
from domain.rules import NewsBlackout, SymbolSpec
from domain.schedule_rule import ScheduleRules

_DEFAULT_SPEC = SymbolSpec(name="")


def event_key(event: NewsEvent) -> str:
    return f"{event.time.isoformat()} {event.title}"


def window_of(rule: NewsBlackout, event: NewsEvent) -> tuple[datetime, datetime]:
    return (
        event.time - timedelta(minutes=rule.before_minutes),
        event.time + timedelta(minutes=rule.after_minutes),
    )


def windows_at(
    rule: NewsBlackout, calendar: Calendar, symbol: str, at: datetime
) -> list[NewsEvent]:
    """The events of at least the rule's impact whose window holds `at` and target `symbol`."""
    near = calendar.near(
        at, timedelta(minutes=rule.before_minutes), timedelta(minutes=rule.after_minutes)
    )
    return [
        e for e in near if at_least(e.impact, rule.impact) and targets(e, symbol, rule.instruments)
    ]


class NewsRules(PositionRules, ScheduleRules):
    @property
    def calendar(self) -> Calendar | None:
        """The calendar in force (rebuilt from the recorded one, cached, never persisted)."""
        cached: Calendar | None = self.__dict__.get("_calendar_cache")
        if cached is not None:
            return cached
        recorded: dict[str, Any] | None = self.__dict__.get("_calendar")
        if recorded is None:
            return None
        cached = Calendar.from_plain(recorded["events"], recorded["source"])
        self.__dict__["_calendar_cache"] = cached
        return cached

    def import_calendar(self, calendar: Calendar, actor: str, at: FactRef) -> bool:
        """Put `calendar` in force; False (nothing recorded) when it already is."""
        recorded: dict[str, Any] | None = self.__dict__.get("_calendar")
        if recorded is not None and recorded["digest"] == calendar.digest:
            return False
        self._record(
            nev.CalendarImported,
            at,
            digest=calendar.digest,
            source=calendar.source,
            actor=actor,
            count=len(calendar.events),
            events=calendar.to_plain(),
        )
        return True

    def _blackouts(self, symbol: str, at: datetime) -> tuple[NewsBlackout, list[NewsEvent]]:
        rule, calendar = self.rules.news_blackout, self.calendar
        if rule is None or calendar is None:
            return NewsBlackout(), []
        return rule, windows_at(rule, calendar, symbol, at)

    def blackout_reasons(self, symbol: str, at: datetime) -> list[str]:
        """Why an order on `symbol` at `at`, opening or closing, is refused (empty: none)."""
        rule, found = self._blackouts(symbol, at)
        reasons = []
        for event in found:
            start, end = window_of(rule, event)
            reasons.append(
                f"news blackout: {event.label}; no opening or closing {symbol} from "
                f"{start.isoformat()} to {end.isoformat()}"
            )
        return reasons

    def _check_schedule(self, at: FactRef) -> None:
        """The time rules (ScheduleRules), then the news windows opening at `at`."""
        super()._check_schedule(at)
        rule, calendar = self.rules.news_blackout, self.calendar
        if rule is None or calendar is None or not self._positions:
            return
        opened: list[str] = self.__dict__.get("_news", {}).get("opened", [])
        near = calendar.near(
            at.time, timedelta(minutes=rule.before_minutes), timedelta(minutes=rule.after_minutes)
        )
        for event in near:
            if not at_least(event.impact, rule.impact) or event_key(event) in opened:
                continue
            hit = [
                p
                for p in sorted(self._positions.values(), key=lambda p: p["identifier"])
                if targets(event, p["symbol"], rule.instruments)
            ]
            if hit:
                self._open_window(rule, event, hit, at)

    def _open_window(
        self, rule: NewsBlackout, event: NewsEvent, hit: list[dict[str, Any]], at: FactRef
    ) -> None:
        start, end = window_of(rule, event)
        self._record(
            nev.NewsWindowOpened,
            at,
            event=event.label,
            key=event_key(event),
            start=start,
            end=end,
            positions=tuple(p["identifier"] for p in hit),
        )
        if rule.sl_tp_warn_pips is None:
            return
        for position in hit:
            distance = self._stop_distance(position)
            if distance is not None and distance <= rule.sl_tp_warn_pips:
                self._record(
                    nev.NewsStopNearWindow,
                    at,
                    event=event.label,
                    identifier=position["identifier"],
                    symbol=position["symbol"],
                    sl=position["sl"],
                    tp=position["tp"],
                    reference=position["price_open"],
                    distance_pips=distance,
                    warn_pips=rule.sl_tp_warn_pips,
                    reason=f"position {position['identifier']} {position['symbol']}: SL/TP "
                    f"{distance:f} pips away as {event.label} opens a blackout",
                )

    def _stop_distance(self, position: dict[str, Any]) -> Decimal | None:
        """Pips from the reference price to the nearer of SL and TP (None: neither set).

        The reference is the open price: the facts give the aggregate no later price (ticks
        are not decided on)."""
        spec = self.rules.symbol(position["symbol"]) or _DEFAULT_SPEC
        reference: Decimal = position["price_open"]
        levels = [level for level in (position["sl"], position["tp"]) if level]
        if not levels:
            return None
        nearest: Decimal = min(abs(level - reference) for level in levels)
        return nearest / spec.pip

    def observe_opened(self, position: PositionState, at: FactRef) -> None:
        super().observe_opened(position, at)
        self._violations("opened", position.identifier, position.symbol, position.reason, at)

    def observe_closed(self, closed: ClosedPosition, at: FactRef) -> None:
        identifier = closed.position.identifier
        ordered = self._ordered_close(identifier)
        super().observe_closed(closed, at)
        if not ordered:
            self._violations("closed", identifier, closed.position.symbol, closed.deal_reason, at)

    def _ordered_close(self, identifier: int) -> bool:
        """Whether mtq ordered the close of this position (and has no answer yet)."""
        position = self._positions.get(str(identifier))
        if position is not None and position.get("closing") is not None:
            return True
        ticket = None if position is None else position["ticket"]
        return any(
            c["kind"] == "close_all" and ticket in c.get("tickets", ())
            for c in self._commands.values()
        )

    def _violations(
        self, deal: str, identifier: int, symbol: str, deal_reason: str, at: FactRef
    ) -> None:
        rule, found = self._blackouts(symbol, at.time)
        for event in found:
            start, end = window_of(rule, event)
            self._record(
                nev.NewsWindowViolation,
                at,
                event=event.label,
                deal=deal,
                identifier=identifier,
                symbol=symbol,
                deal_reason=deal_reason,
                start=start,
                end=end,
                reason=f"position {identifier} {symbol} {deal} ({deal_reason}) inside the "
                f"blackout of {event.label}",
            )
