"""Issue 16: a real terminal ignores mtq's trading state, so what it lets through is closed:
a position opened (or grown) while HALTED, one that adds exposure while REDUCING."""

from __future__ import annotations

from typing import Any

from domain.rules import DailyLossRule
from tests.unit.test_domain_support import D, Feed, rules


def _closes(events: list[Any]) -> list[tuple[int, str]]:
    return [(e.identifier, e.reason) for e in events if type(e).__name__ == "PositionCloseOrdered"]


def _halted() -> Feed:
    feed = Feed(rules(daily_loss=DailyLossRule(action="halt")))
    feed.snapshot("100000.00")
    feed.snapshot("100000.00", "94000.00")
    assert feed.account.trading_state == "HALTED"
    return feed


def test_position_when_opened_while_halted_then_closed_at_once() -> None:
    feed = _halted()
    events = feed.open(7, side="buy")
    assert _closes(events) == [(7, "opened_while_halted")]
    command = feed.account.outstanding_commands[events[-1].command_id]
    assert (command["kind"], command["identifier"]) == ("close_position", 7)


def test_position_when_grown_while_halted_then_closed() -> None:
    feed = Feed(rules(daily_loss=DailyLossRule(action="halt")))
    feed.snapshot("100000.00")
    feed.open(3, volume=D("0.1"))
    feed.snapshot("100000.00", "94000.00")
    assert _closes(feed.modify(3, volume=D("0.3"))) == [(3, "opened_while_halted")]


def test_reducing_when_position_adds_exposure_then_closed_and_hedge_kept() -> None:
    feed = Feed(rules())
    feed.snapshot("100000.00")
    feed.open(1, side="buy", volume=D("0.5"))
    feed.control("pause")
    assert feed.account.trading_state == "REDUCING"
    assert _closes(feed.open(2, side="sell", volume=D("0.2"))) == []  # shrinks the net
    assert _closes(feed.open(3, side="buy", volume=D("0.1"))) == [
        (3, "increases_exposure_while_reducing")
    ]
    assert _closes(feed.open(4, symbol="XAUUSD", side="sell", volume=D("0.1"))) == [
        (4, "increases_exposure_while_reducing")
    ]


def test_active_when_position_opens_then_nothing_closed() -> None:
    feed = Feed(rules())
    feed.snapshot("100000.00")
    assert _closes(feed.open(1)) == []
