"""Issue 16 bug 6: an account first seen mid-challenge, with and without the agent's rebuild."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bus.eventstore.transcoder import PlainJSONMapper, PlainJSONTranscoder
from domain import AccountState, FactRef
from domain.events import TradingDayStarted
from domain.rules import DailyLossRule, MaxLossRule
from tests.unit.test_domain_support import D, Feed, rules

PRAGUE = "Europe/Prague"
RESET = datetime(2026, 3, 2, 23, 0, tzinfo=UTC)  # 00:00 Prague, 3 March
MID_MORNING = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
MAPPER: PlainJSONMapper[Any] = PlainJSONMapper(transcoder=PlainJSONTranscoder())


def ftmo(initial: str = "95000.00") -> Feed:
    daily = DailyLossRule(timezone=PRAGUE)
    return Feed(rules(initial_capital=D(initial), daily_loss=daily, max_loss=MaxLossRule()))


def first_day(feed: Feed, state: AccountState) -> TradingDayStarted:
    feed.account.observe_account(state, FactRef(2, MID_MORNING))
    events = feed.collect()
    (started,) = [e for e in events if isinstance(e, TradingDayStarted)]
    return started


def test_first_day_when_agent_rebuilt_midnight_balance_then_anchor_reconstructed() -> None:
    feed = ftmo()
    state = AccountState(
        D("103000.00"), D("102500.00"), reset_at=RESET, reset_balance=D("104000.00")
    )
    started = first_day(feed, state)
    assert (started.anchor, started.daily_floor) == (D("104000.00"), D("99250.00"))
    assert started.anchor_source == "reconstructed"
    assert feed.account.summary()["day"]["anchor_source"] == "reconstructed"


def test_first_day_when_no_rebuild_then_higher_of_initial_and_first_balance_estimated() -> None:
    feed = ftmo()
    started = first_day(feed, AccountState(D("103000.00"), D("102500.00")))
    assert (started.anchor, started.anchor_source) == (D("103000.00"), "estimated")
    assert feed.account.summary()["day"]["anchor_source"] == "estimated"
    low = first_day(ftmo("100000.00"), AccountState(D("97000.00"), D("97000.00")))
    assert (low.anchor, low.daily_floor) == (D("100000.00"), D("95000.00"))


def test_first_day_when_rebuild_is_for_another_reset_then_not_used() -> None:
    stale = datetime(2026, 3, 1, 23, 0, tzinfo=UTC)
    state = AccountState(
        D("103000.00"), D("103000.00"), reset_at=stale, reset_balance=D("104000.00")
    )
    started = first_day(ftmo(), state)
    assert (started.anchor, started.anchor_source) == (D("103000.00"), "estimated")


def test_first_day_when_event_without_anchor_source_is_read_then_recorded() -> None:
    feed = ftmo()
    started = first_day(feed, AccountState(D("103000.00"), D("102500.00")))
    stored = MAPPER.to_stored_event(started)
    old = stored.state.replace(b',"anchor_source":"estimated"', b"")
    assert old != stored.state
    read = MAPPER.to_domain_event(stored.__class__(**{**vars(stored), "state": old}))
    assert isinstance(read, TradingDayStarted)
    assert read.anchor_source == "recorded"
