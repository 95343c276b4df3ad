"""Issue 16: a reset while equity is beyond a floor is refused, unless `--rebase` records a new
day anchor at the balance (DayRebased, with actor and reason); the max floor never moves."""

from __future__ import annotations

from typing import Any

import pytest

from domain import InvalidControl
from domain.rules import DailyLossRule, MaxLossRule
from tests.unit.test_domain_support import D, Feed, names, rebuild, rules


def _of(events: list[Any], name: str) -> list[Any]:
    return [e for e in events if type(e).__name__ == name]


def _liquidated() -> Feed:
    """ftmo-001 of the demo: liquidated below its daily floor, balance now 94,000."""
    feed = Feed(rules(daily_loss=DailyLossRule(action="liquidate")))
    feed.snapshot("100000.00")
    feed.open(1)
    feed.snapshot("100000.00", "94000.00")
    feed.close(1, realized="-6000")
    feed.snapshot("94000.00", "94000.00")
    assert feed.account.trading_state == "HALTED"
    return feed


def test_reset_when_equity_still_below_the_daily_floor_then_refused_in_one_line() -> None:
    feed = _liquidated()
    with pytest.raises(InvalidControl) as refused:
        feed.control("reset", actor="alice", reason="reviewed")
    message = str(refused.value)
    assert "\n" not in message
    assert "equity 94000.00 is beyond the daily floor 95000.00" in message
    assert "--rebase" in message
    assert feed.collect() == []
    assert feed.account.trading_state == "HALTED"


def test_reset_rebase_when_below_then_day_anchored_at_the_balance_with_actor() -> None:
    feed = _liquidated()
    feed.account.control("reset", "new plan", "alice", feed.ref(seconds=0), rebase=True)
    events = feed.collect()
    assert names(events) == ["DayRebased", "TradingStateChanged"]
    (rebased,) = _of(events, "DayRebased")
    assert (rebased.anchor, rebased.previous_anchor) == (D("94000.00"), D("100000.00"))
    assert (rebased.daily_floor, rebased.actor, rebased.reason) == (
        D("89000.00"),
        "alice",
        "new plan",
    )
    summary = feed.account.summary()
    assert summary["trading_state"] == "ACTIVE"
    assert summary["limits"]["daily"]["floor"] == "89000.00"
    assert summary["day"]["anchor_source"] == "rebased"
    assert rebuild(feed.log) == feed.account
    assert "DrawdownBreached" not in names(feed.snapshot("94000.00", "93000.00"))
    assert "DrawdownBreached" in names(feed.snapshot("94000.00", "88999.99"))


def test_reset_rebase_when_beyond_the_max_floor_then_refused() -> None:
    feed = Feed(
        rules(
            daily_loss=DailyLossRule(enabled=False),
            max_loss=MaxLossRule(limit_percent=D(10), action="halt"),
        )
    )
    feed.snapshot("100000.00")
    feed.snapshot("89000.00")
    assert feed.account.trading_state == "HALTED"
    with pytest.raises(InvalidControl, match=r"beyond the max loss floor 90000\.00"):
        feed.account.control("reset", "again", "alice", feed.ref(seconds=0), rebase=True)
    assert feed.collect() == []


def test_rebase_when_not_a_reset_then_refused() -> None:
    feed = Feed(rules())
    feed.snapshot("100000.00")
    with pytest.raises(InvalidControl, match="rebase goes with reset, not pause"):
        feed.account.control("pause", "x", "alice", feed.ref(seconds=0), rebase=True)
