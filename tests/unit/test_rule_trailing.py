"""Issue 16 bugs 2 and 3: FTMO 1-Step end-of-day trailing floor; intraday peak to the cent."""

from __future__ import annotations

from datetime import UTC, datetime

from domain.rules import DailyLossRule, MaxLossRule
from tests.unit.test_domain_support import D, Feed, rebuild, rules

NO_DAILY = DailyLossRule(enabled=False)


def test_ftmo_1step_when_end_of_day_balance_115000_then_floor_105000() -> None:
    max_loss = MaxLossRule(kind="trailing_eod", limit_percent=D(10), lock_at_initial=False)
    feed = Feed(rules(daily_loss=NO_DAILY, max_loss=max_loss))
    feed.snapshot("100000.00", at=datetime(2026, 3, 2, 9, tzinfo=UTC))
    feed.snapshot("115000.00", at=datetime(2026, 3, 2, 21, tzinfo=UTC))
    feed.snapshot("114000.00", at=datetime(2026, 3, 3, 9, tzinfo=UTC))
    assert feed.account.summary()["limits"]["max"]["floor"] == "105000.00"
    feed.snapshot("110000.00", at=datetime(2026, 3, 4, 9, tzinfo=UTC))
    assert feed.account.summary()["limits"]["max"]["floor"] == "105000.00"  # only rises


def test_trailing_intraday_when_rebuilt_from_events_then_floor_to_the_cent() -> None:
    max_loss = MaxLossRule(kind="trailing_intraday", limit_percent=D(6))
    feed = Feed(rules(daily_loss=NO_DAILY, max_loss=max_loss))
    feed.snapshot("100000.00")
    feed.snapshot("100000.00", "100017.43")
    assert feed.account.summary()["limits"]["max"]["floor"] == "94017.43"
    restarted = rebuild(feed.log)
    assert restarted.summary()["limits"]["max"]["floor"] == "94017.43"
    assert restarted == feed.account
