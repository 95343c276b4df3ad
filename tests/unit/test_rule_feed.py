"""Issue 16: no account snapshot for `feed.stale_after_seconds` while positions are open is
stale (FeedStale, once, with its action); the next snapshot records FeedRestored."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from domain.errors import InvalidFact
from domain.rules import FeedRule
from tests.unit.test_domain_support import Feed, names, rebuild, rules


def _heartbeat(feed: Feed, seconds: float) -> list[Any]:
    feed.account.observe_clock(feed.ref(seconds=seconds))
    return feed.collect()


def _open(action: str = "alert") -> Feed:
    feed = Feed(replace(rules(), feed=FeedRule(stale_after_seconds=30.0, action=action)))  # type: ignore[arg-type]
    feed.snapshot("100000.00")
    feed.open(1)
    return feed


def test_no_snapshot_when_positions_open_then_stale_once_and_restored() -> None:
    feed = _open()
    assert _heartbeat(feed, 29) == []  # 30 s after the snapshot (the open took 1 s): not yet
    (stale,) = _heartbeat(feed, 0.5)
    assert type(stale).__name__ == "FeedStale"
    assert (stale.positions, stale.action, stale.holds) == (1, "alert", None)
    assert _heartbeat(feed, 10) == []  # recorded once
    assert feed.account.trading_state == "ACTIVE"
    events = feed.snapshot("100000.00", seconds=1)
    assert names(events)[0] == "FeedRestored"
    assert events[0].stale_since == stale.last_snapshot
    assert rebuild(feed.log) == feed.account


def test_no_snapshot_when_flat_then_not_stale() -> None:
    feed = Feed(rules())
    feed.snapshot("100000.00")
    assert _heartbeat(feed, 300) == []


def test_stale_when_action_halt_then_halted_until_restored() -> None:
    feed = _open("halt")
    events = _heartbeat(feed, 45)
    assert names(events) == ["FeedStale", "TradingStateChanged"]
    assert feed.account.holds == {"feed": "HALTED"}
    events = feed.snapshot("100000.00", seconds=1)
    assert names(events)[:2] == ["FeedRestored", "TradingStateChanged"]
    assert feed.account.trading_state == "ACTIVE"
    assert feed.account.holds == {}


def test_fact_stamped_ahead_of_its_store_time_when_over_the_skew_then_refused() -> None:
    feed = Feed(replace(rules(), feed=FeedRule(max_clock_skew_seconds=120.0)))
    stored = feed.ref().time
    feed.account.check_clock_skew(stored + timedelta(seconds=120), stored)  # at the limit
    feed.account.check_clock_skew(stored - timedelta(days=1), stored)  # behind: not skew
    with pytest.raises(InvalidFact, match=r"121 s ahead .* feed.max_clock_skew_seconds 120"):
        feed.account.check_clock_skew(stored + timedelta(seconds=121), stored)
