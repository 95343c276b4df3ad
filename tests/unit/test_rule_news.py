"""Issue 19, news blackouts: no opening or closing of a targeted symbol inside a window,
the SL/TP alert as a window opens, and deals mtq did not order recorded as violations."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from domain import FactRef
from domain.news import Calendar, NewsEvent, symbol_currencies, targets
from domain.rules import AllowedHours, FeedRule, NewsBlackout, Schedule
from tests.unit.test_domain_support import D, Feed, names, rebuild, rules

NFP = datetime(2026, 3, 6, 13, 30, tzinfo=UTC)
RULE = NewsBlackout(sl_tp_warn_pips=D(5))
QUIET = FeedRule(stale_after_seconds=30 * 86400.0)


def event(at: datetime = NFP, currency: str = "USD", impact: str = "high") -> NewsEvent:
    return NewsEvent(at, impact, "Non-Farm Payrolls", (currency,))  # type: ignore[arg-type]


def feed_with(
    calendar: Calendar,
    rule: NewsBlackout = RULE,
    start: datetime | None = None,
    schedule: Schedule | None = None,
) -> Feed:
    chosen = replace(rules(), news_blackout=rule, feed=QUIET, schedule=schedule or Schedule())
    feed = Feed(chosen, start=start or NFP - timedelta(hours=1))
    assert feed.account.import_calendar(calendar, "admin", FactRef(feed.seq, feed.time))
    feed.collect()
    feed.snapshot("100000.00")
    return feed


def at(feed: Feed, when: datetime) -> None:
    feed.seq += 1
    feed.time = when


def test_symbol_currencies_are_the_first_and_last_three_letters() -> None:
    assert symbol_currencies("XAUUSD") == ("XAU", "USD")
    assert symbol_currencies("EURUSD.pro") == ("EUR", "USD")
    assert targets(event(currency="XAU"), "XAUUSD", "by_currency")
    assert not targets(event(currency="JPY"), "EURUSD", "by_currency")
    assert targets(event(currency="JPY"), "EURUSD", "all")


def test_open_and_close_denied_inside_the_window_naming_the_event_allowed_outside() -> None:
    feed = feed_with(Calendar((event(),), "ff.csv"))
    feed.open(1)
    at(feed, NFP - timedelta(minutes=2, seconds=1))
    assert feed.check()[0].approved
    for when in (NFP - timedelta(minutes=2), NFP, NFP + timedelta(minutes=2)):
        at(feed, when)
        opening, _ = feed.check()
        closing, _ = feed.check(side="sell", volume="0.1")
        assert not opening.approved
        assert not closing.approved
        assert "Non-Farm Payrolls" in closing.reasons[0], closing.reasons
        assert closing.reasons[0].startswith("news blackout: USD Non-Farm Payrolls (high)")
    at(feed, NFP + timedelta(minutes=2, seconds=1))
    assert feed.check(side="sell")[0].approved
    at(feed, NFP)
    assert feed.check(symbol="XAUUSD", price=D("2000.00"))[0].approved is False  # USD quote
    assert "news blackout" not in " ".join(feed.check(symbol="GBPJPY")[0].reasons)


def test_lower_impact_events_do_not_black_out_a_high_rule() -> None:
    feed = feed_with(Calendar((event(impact="medium"),)))
    at(feed, NFP)
    assert feed.check()[0].approved


def test_window_opening_alerts_positions_with_stops_near_and_only_once() -> None:
    feed = feed_with(Calendar((event(),)))
    feed.open(1, sl=D("1.09960"))  # 4 pips below its open price
    feed.open(2, sl=D("1.09000"))  # 100 pips
    feed.open(3, symbol="GBPJPY", sl=D("1.09990"))  # not targeted
    feed.account.observe_clock(feed.ref(NFP - timedelta(minutes=3)))
    assert feed.collect() == []
    feed.account.observe_clock(feed.ref(NFP - timedelta(minutes=1, seconds=50)))
    events = feed.collect()
    assert names(events) == ["NewsWindowOpened", "NewsStopNearWindow"]
    assert events[0].positions == (1, 2)
    assert (events[1].identifier, events[1].distance_pips) == (1, D(4))
    feed.account.observe_clock(feed.ref(NFP))
    assert feed.collect() == []
    assert rebuild(feed.log) == feed.account


def test_deals_inside_a_window_are_violations_unless_mtq_ordered_them() -> None:
    feed = feed_with(Calendar((event(),)))
    feed.open(1)
    feed.seq += 1
    feed.time = NFP - timedelta(seconds=30)
    events = feed.open(2)
    assert "NewsWindowViolation" in names(events)
    violation = next(e for e in events if type(e).__name__ == "NewsWindowViolation")
    assert (violation.deal, violation.identifier, violation.symbol) == ("opened", 2, "EURUSD")
    closed = feed.close(1)
    assert names(closed)[-1] == "NewsWindowViolation"
    feed.time = NFP + timedelta(minutes=3)
    assert "NewsWindowViolation" not in names(feed.close(2))


def test_the_same_calendar_twice_records_nothing_and_a_snapshot_keeps_it() -> None:
    calendar = Calendar((event(),), "ff.csv")
    feed = feed_with(calendar)
    assert not feed.account.import_calendar(calendar, "admin", FactRef(feed.seq, feed.time))
    copy = rebuild(feed.log)
    assert copy.calendar is not None
    assert copy.calendar.digest == calendar.digest
    assert copy == feed.account


zones = st.sampled_from(["USD", "EUR", "JPY", "GBP", "XAU"])
minutes = st.integers(min_value=0, max_value=10)


@settings(max_examples=150, deadline=None)
@given(
    offsets=st.lists(st.integers(min_value=0, max_value=600), min_size=1, max_size=12),
    currencies=st.lists(zones, min_size=12, max_size=12),
    before=minutes,
    after=minutes,
    probes=st.lists(st.integers(min_value=-30, max_value=640), min_size=1, max_size=20),
    symbol=st.sampled_from(["EURUSD", "XAUUSD", "USDJPY", "GBPJPY"]),
    side=st.sampled_from(["buy", "sell"]),
    zone=st.sampled_from(
        ["UTC", "America/New_York", "Europe/Prague", "Asia/Tokyo", "Australia/Sydney"]
    ),
)
def test_no_order_inside_a_window_is_ever_approved(  # noqa: PLR0917 - hypothesis draws
    offsets: list[int],
    currencies: list[str],
    before: int,
    after: int,
    probes: list[int],
    symbol: str,
    side: str,
    zone: str,
) -> None:
    """With a trading window in a random zone beside it: the blackout never gives way."""
    start = NFP - timedelta(hours=1)
    news = tuple(
        event(start + timedelta(minutes=m), currency=c)
        for m, c in zip(offsets, currencies, strict=False)
    )
    rule = NewsBlackout(before_minutes=before, after_minutes=after)
    window = Schedule(allowed_hours=AllowedHours("00:00", "23:59", zone))
    feed = feed_with(Calendar(news), rule, start=start - timedelta(hours=1), schedule=window)
    feed.open(1, symbol=symbol, side=side)
    base, quote = symbol_currencies(symbol)
    for probe in sorted(probes):
        when = start + timedelta(minutes=probe, seconds=probe % 7)
        at(feed, when)
        inside = any(
            e.time - timedelta(minutes=before) <= when <= e.time + timedelta(minutes=after)
            and (base in e.currencies or quote in e.currencies)
            for e in news
        )
        for order_side in ("buy", "sell"):
            answer, _ = feed.check(symbol=symbol, side=order_side, price=Decimal("1.1"))
            if inside:
                assert not answer.approved, (when, answer)
                assert answer.reasons[0].startswith("news blackout"), answer.reasons
            else:
                assert not any(r.startswith("news blackout") for r in answer.reasons), answer
