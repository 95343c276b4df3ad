"""Issue 16 bug 1: the daily anchor is the last value known at or before the reset instant."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.events import DrawdownBreached, TradingDayStarted
from domain.rules import DailyLossRule, MaxLossRule
from tests.unit.test_domain_support import D, Feed, rules

PRAGUE = "Europe/Prague"
BEFORE_MIDNIGHT = datetime(2026, 3, 2, 22, 59, tzinfo=UTC)  # 23:59 Prague (CET)
THREE_AM = datetime(2026, 3, 3, 2, 0, tzinfo=UTC)  # 03:00 Prague


def ftmo_2step(anchor: str = "balance") -> Feed:
    daily = DailyLossRule(timezone=PRAGUE, anchor=anchor)  # type: ignore[arg-type]
    return Feed(rules(daily_loss=daily, max_loss=MaxLossRule()))


def test_daily_anchor_when_agent_silent_over_midnight_then_last_balance_before_reset() -> None:
    feed = ftmo_2step()
    feed.snapshot("100000.00", at=BEFORE_MIDNIGHT)
    events = feed.snapshot("96000.00", "94500.00", at=THREE_AM)
    (started,) = [e for e in events if isinstance(e, TradingDayStarted)]
    assert (started.anchor, started.daily_floor) == (D("100000.00"), D("95000.00"))
    (breach,) = [e for e in events if isinstance(e, DrawdownBreached)]
    assert (breach.rule, breach.floor, breach.value) == ("daily", D("95000.00"), D("94500.00"))


@pytest.mark.parametrize(
    ("anchor", "expected"),
    [("equity", "100250.37"), ("max_balance_equity", "100250.37"), ("balance", "100000.00")],
)
def test_daily_anchor_when_equity_kinds_then_last_equity_before_reset_to_the_cent(
    anchor: str, expected: str
) -> None:
    feed = ftmo_2step(anchor)
    feed.snapshot("100000.00", at=datetime(2026, 3, 2, 20, tzinfo=UTC))
    feed.snapshot("100000.00", "100250.37", at=BEFORE_MIDNIGHT)  # a move far below 0.5%
    events = feed.snapshot("99000.00", "98000.00", at=THREE_AM)
    (started,) = [e for e in events if isinstance(e, TradingDayStarted)]
    assert started.anchor == D(expected)
    assert (started.anchor_balance, started.anchor_equity)[0] == D("100000.00")


def test_daily_anchor_when_snapshot_exactly_at_reset_then_that_snapshot() -> None:
    feed = ftmo_2step()
    feed.snapshot("100000.00", at=BEFORE_MIDNIGHT)
    reset = datetime(2026, 3, 2, 23, 0, tzinfo=UTC)  # 00:00 Prague
    events = feed.snapshot("101000.00", at=reset)
    (started,) = [e for e in events if isinstance(e, TradingDayStarted)]
    assert started.anchor == D("101000.00")
