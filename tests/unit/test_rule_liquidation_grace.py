"""Issue 16: a pending liquidation allows no new exposure, needs a clear recovery to cancel,
and its grace resumes (never restarts) when the breach comes back the same day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.unit.test_domain_support import D, Feed, names, rules

DAY = datetime(2026, 3, 2, 9, tzinfo=UTC)


def _feed() -> Feed:
    """Daily floor 95,000, warning 96,000, recovered at 95,100; 15 s grace."""
    feed = Feed(rules(liquidation_grace_seconds=15.0))
    feed.snapshot("100000.00", at=DAY)
    feed.open(1, volume=D("0.5"), side="buy")
    return feed


def _of(events: list[Any], name: str) -> list[Any]:
    return [e for e in events if type(e).__name__ == name]


def test_pending_liquidation_when_order_adds_exposure_then_denied_reducing_approved() -> None:
    feed = _feed()
    assert names(feed.snapshot("100000.00", "94900.00", seconds=1)).count("LiquidationPending") == 1
    assert feed.account.trading_state == "ACTIVE"  # the grace holds nothing yet
    opening, _ = feed.check(side="buy", volume="0.1", client_order_id="more")
    assert not opening.approved
    assert any(r.startswith("liquidation pending: daily loss") for r in opening.reasons)
    reducing, _ = feed.check(side="sell", volume="0.2", client_order_id="less")
    assert reducing.approved, reducing.reasons


def test_equity_when_oscillating_around_the_floor_then_one_pending_and_deadline_kept() -> None:
    feed = _feed()
    log: list[Any] = []
    start = feed.time
    for i in range(40):  # 94,990 / 95,010 every second: never clear of the floor by 100
        log += feed.snapshot("100000.00", "94990.00" if i % 2 == 0 else "95010.00", seconds=1)
    assert len(_of(log, "LiquidationPending")) == 1
    assert _of(log, "LiquidationCancelled") == []
    assert names(log).count("DrawdownBreached") == 1
    (ordered,) = _of(log, "LiquidationOrdered")
    assert ordered.timestamp == start + timedelta(seconds=16)  # the first deadline, not later


def test_breach_when_reentered_the_same_day_then_grace_resumes_where_it_stopped() -> None:
    feed = _feed()
    feed.snapshot("100000.00", "94900.00", seconds=1)  # pending: 15 s
    cancelled = _of(feed.snapshot("100000.00", "95100.00", seconds=6), "LiquidationCancelled")
    assert [c.grace_used for c in cancelled] == [6.0]
    events = feed.snapshot("100000.00", "94800.00", seconds=60)
    (pending,) = _of(events, "LiquidationPending")
    assert pending.grace_end == feed.time + timedelta(seconds=9)
    feed.snapshot("100000.00", "95200.00", seconds=9 - 0.5)  # cancelled again: 14.5 s used
    events = feed.snapshot("100000.00", "94800.00", seconds=60)
    assert _of(events, "LiquidationPending")[0].grace_end == feed.time + timedelta(seconds=0.5)
    feed.snapshot("100000.00", "95300.00", seconds=0.25)
    events = feed.snapshot("100000.00", "94700.00", seconds=30)  # 14.75 s used: 0.25 left
    assert _of(events, "LiquidationPending")[0].grace_end == feed.time + timedelta(seconds=0.25)


def test_breach_when_the_days_grace_is_spent_then_liquidates_at_once() -> None:
    feed = _feed()
    feed.snapshot("100000.00", "94900.00", seconds=1)
    cancelled = _of(feed.snapshot("100000.00", "95100.00", seconds=15), "LiquidationCancelled")
    assert [c.grace_used for c in cancelled] == [15.0]
    events = feed.snapshot("100000.00", "94000.00", seconds=60)
    assert "LiquidationPending" not in names(events)
    assert len(_of(events, "LiquidationOrdered")) == 1
    assert feed.account.trading_state == "HALTED"


def test_recovery_when_only_above_the_floor_then_not_cancelled() -> None:
    feed = _feed()
    feed.snapshot("100000.00", "94900.00", seconds=1)
    assert "LiquidationCancelled" not in names(feed.snapshot("100000.00", "95099.99", seconds=1))
    assert "LiquidationCancelled" in names(feed.snapshot("100000.00", "95100.00", seconds=1))


def test_new_day_when_breached_again_then_the_whole_grace_again() -> None:
    feed = _feed()
    feed.snapshot("100000.00", "94900.00", seconds=1)
    feed.snapshot("100000.00", "95100.00", seconds=10)
    feed.snapshot("100000.00", "100000.00", at=DAY + timedelta(days=1))
    events = feed.snapshot("100000.00", "94000.00", seconds=1)
    assert _of(events, "LiquidationPending")[0].grace_end == feed.time + timedelta(seconds=15)


def test_equity_when_gapped_below_zero_then_believed_and_breached() -> None:
    feed = Feed(rules())
    feed.snapshot("100000.00", at=DAY)
    events = feed.snapshot("100000.00", "-2500.00", seconds=1)
    breached = [e.rule for e in events if type(e).__name__ == "DrawdownBreached"]
    assert breached == ["daily", "max"]
    assert feed.account.trading_state == "HALTED"
