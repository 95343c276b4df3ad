"""Issue 16 bugs 2 and 3: FTMO 1-Step end-of-day trailing floor; intraday peak to the cent."""

from __future__ import annotations

from datetime import UTC, datetime

from domain.rules import DailyLossRule, MaxLossRule
from tests.unit.test_domain_support import D, Feed, names, rebuild, rules

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


def _spiky(confirmations: int) -> Feed:
    max_loss = MaxLossRule(kind="trailing_intraday", limit_percent=D(5), action="liquidate")
    return Feed(rules(daily_loss=NO_DAILY, max_loss=max_loss, breach_confirmations=confirmations))


def test_one_tick_spike_when_peak_needs_confirmations_then_peak_and_floor_stay() -> None:
    feed = _spiky(2)
    feed.snapshot("100000.00")
    assert "PeakEquityRaised" not in names(feed.snapshot("100000.00", "104000.00"))
    feed.snapshot("100000.00", "100000.00")
    assert feed.account.summary()["limits"]["max"]["floor"] == "95000.00"
    # equity that breaks the spiked floor (99,000) but not the real one liquidates nothing
    for _ in range(3):
        assert "DrawdownBreached" not in names(feed.snapshot("100000.00", "98000.00"))
    assert feed.account.trading_state == "ACTIVE"


def test_peak_when_held_for_the_confirmations_then_raised_to_the_level_held() -> None:
    feed = _spiky(2)
    feed.snapshot("100000.00")
    feed.snapshot("100000.00", "101000.00")
    raised = feed.snapshot("100000.00", "100800.00")
    assert [e.peak for e in raised if type(e).__name__ == "PeakEquityRaised"] == [D("100800.00")]
    raised = feed.snapshot("100000.00", "102000.00")  # 100,800 and 102,000 held: 100,800 stays
    assert "PeakEquityRaised" not in names(raised)
    raised = feed.snapshot("100000.00", "103000.00")
    assert [e.peak for e in raised if type(e).__name__ == "PeakEquityRaised"] == [D("102000.00")]
    assert feed.account.summary()["limits"]["max"]["floor"] == "97000.00"
    restarted = rebuild(feed.log)
    assert restarted == feed.account
    resumed = feed.snapshot("100000.00", "102500.00")
    assert [e.peak for e in resumed if type(e).__name__ == "PeakEquityRaised"] == [D("102500.00")]


def test_peak_confirmations_key_when_set_then_overrides_breach_confirmations() -> None:
    max_loss = MaxLossRule(kind="trailing_intraday", limit_percent=D(5))
    feed = Feed(
        rules(daily_loss=NO_DAILY, max_loss=max_loss, breach_confirmations=1, peak_confirmations=3)
    )
    feed.snapshot("100000.00")
    assert "PeakEquityRaised" not in names(feed.snapshot("100000.00", "101000.00"))
    assert "PeakEquityRaised" not in names(feed.snapshot("100000.00", "101000.00"))
    assert "PeakEquityRaised" in names(feed.snapshot("100000.00", "101000.00"))
