"""Position limits on open and modify, and bad input that must leave the aggregate unchanged."""

from __future__ import annotations

import copy
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from domain import (
    AccountState,
    DuplicatePosition,
    FactOutOfOrder,
    FactRef,
    InvalidFact,
    RiskError,
    UnknownPosition,
)
from domain.rules import PositionLimits
from tests.unit.test_domain_support import D, Feed, names, position, rules


def limited(**limits: Any) -> Feed:
    feed = Feed(rules(position_limits=PositionLimits(**limits)))
    feed.snapshot("100000.00")
    return feed


def test_max_positions_when_exceeded_then_violation_and_new_position_closed() -> None:
    feed = limited(max_positions=2)
    feed.open(1)
    feed.open(2)
    events = feed.open(3)
    assert names(events) == ["PositionTracked", "PositionLimitViolated", "PositionCloseOrdered"]
    violation, close = events[1], events[2]
    assert (violation.rule, violation.value, violation.identifier) == ("positions", "3", 3)
    assert (close.ticket, close.identifier, close.volume) == (1003, 3, D("0.1"))
    assert close.command_id == f"acc-1-{close.originator_version}"
    assert feed.account.outstanding_commands[close.command_id]["kind"] == "close_position"


def test_max_concurrent_trades_when_third_symbol_then_violation() -> None:
    feed = limited(max_concurrent_trades=1)
    feed.open(1, "EURUSD")
    assert names(feed.open(2, "EURUSD")) == ["PositionTracked"]  # same symbol: same trade
    events = feed.open(3, "XAUUSD", price_open=D("2350.00"))
    assert events[1].rule == "concurrent_trades"


def test_max_lots_per_symbol_when_exceeded_then_violation_with_lots() -> None:
    feed = limited(max_lots_per_symbol=D("0.2"))
    feed.open(1, volume=D("0.15"))
    events = feed.open(2, volume=D("0.1"))
    assert (events[1].rule, events[1].value, events[1].limit) == (
        "lots",
        "0.25",
        "max_lots_per_symbol 0.2",
    )


def test_max_total_lots_when_exceeded_then_violation() -> None:
    feed = limited(max_total_lots=D("1"))
    feed.open(1, volume=D("0.6"))
    events = feed.open(2, "XAUUSD", volume=D("0.5"), price_open=D("2350.00"))
    assert events[1].rule == "total_lots"


def test_allowed_symbols_when_other_symbol_then_violation() -> None:
    feed = limited(allowed_symbols=("EURUSD",))
    assert names(feed.open(1)) == ["PositionTracked"]
    events = feed.open(2, "XAUUSD", price_open=D("2350.00"))
    assert (events[1].rule, events[1].value) == ("symbol", "XAUUSD")


def test_require_stop_loss_when_missing_then_missing_stop_loss_action() -> None:
    feed = limited(require_stop_loss=True, missing_stop_loss_action="alert")
    assert names(feed.open(1)) == ["PositionTracked", "PositionLimitViolated"]
    feed2 = limited(require_stop_loss=True, missing_stop_loss_action="close_position")
    assert names(feed2.open(1))[-1] == "PositionCloseOrdered"


def test_require_stop_loss_when_modify_removes_sl_then_violation() -> None:
    feed = limited(require_stop_loss=True)
    assert names(feed.open(1, sl=D("1.09"))) == ["PositionTracked"]
    assert names(feed.modify(1, sl=D("1.095"))) == ["PositionUpdated"]
    events = feed.modify(1, sl=D(0))
    assert names(events) == ["PositionUpdated", "PositionLimitViolated"]


def test_modify_when_nothing_tracked_changed_then_nothing_recorded() -> None:
    feed = limited()
    feed.open(1)
    assert feed.modify(1, profit=D("12.5")) == []


def test_position_limits_when_action_halt_then_halted_and_held_by_limits() -> None:
    feed = limited(max_positions=1, action="halt")
    feed.open(1)
    events = feed.open(2)
    assert names(events) == ["PositionTracked", "PositionLimitViolated", "TradingStateChanged"]
    assert feed.account.holds == {"position_limits": "HALTED"}


def test_position_limits_when_action_liquidate_then_close_all_and_halted() -> None:
    feed = limited(max_positions=1, action="liquidate")
    feed.open(1)
    events = feed.open(2)
    assert names(events)[-2:] == ["LiquidationOrdered", "TradingStateChanged"]
    assert events[-2].identifiers == (1, 2)


def test_position_close_when_already_ordered_then_not_ordered_again() -> None:
    feed = limited(max_lots_per_symbol=D("0.2"))
    feed.open(1, volume=D("0.3"))
    events = feed.modify(1, volume=D("0.4"))
    assert names(events) == ["PositionUpdated", "PositionLimitViolated"]


def test_portfolio_risk_when_open_positions_exceed_then_portfolio_action() -> None:
    feed = Feed(rules(portfolio_risk_percent=D(1)))
    feed.snapshot("100000.00")
    # 10 lots EURUSD, SL 200 points away: 200 * 1.00 * 10 = 2,000 > 1% of 100,000
    events = feed.open(1, volume=D("10"), sl=D("1.09800"))
    assert [e.rule for e in events if names([e]) == ["PositionLimitViolated"]] == ["portfolio_risk"]
    assert feed.account.trading_state == "REDUCING"


def test_close_when_tracked_then_released_with_realized() -> None:
    feed = limited()
    feed.open(1)
    (released,) = feed.close(1, realized="-12.345")
    assert (released.identifier, released.realized) == (1, D("-12.34"))
    assert feed.account.positions == {}


# --- bad input --------------------------------------------------------------------------


def state_of(feed: Feed) -> tuple[Any, ...]:
    account = feed.account
    return account.version, copy.deepcopy(account.summary()), len(account.pending_events)


BAD_SNAPSHOTS = [
    AccountState(Decimal("NaN"), D(100000)),
    AccountState(D(100000), Decimal("Infinity")),
    AccountState(D(-1), D(100000)),
    AccountState(D(100000), D(100000) + D(100) * D(100000) + 1),
]


@pytest.mark.parametrize("bad", BAD_SNAPSHOTS)
def test_bad_snapshot_when_not_believable_then_invalid_fact_and_state_unchanged(
    bad: AccountState,
) -> None:
    feed = limited()
    feed.open(1)
    before = state_of(feed)
    with pytest.raises(InvalidFact):
        feed.account.observe_account(bad, feed.ref())
    assert state_of(feed) == before


def test_bad_snapshot_when_earlier_than_last_then_out_of_order_and_state_unchanged() -> None:
    feed = limited()
    feed.snapshot("90000.00")
    before = state_of(feed)
    earlier = FactRef(99, feed.time - timedelta(seconds=1))
    with pytest.raises(FactOutOfOrder):
        feed.account.observe_account(AccountState(D(80000), D(80000)), earlier)
    assert state_of(feed) == before


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda f: f.open(1), DuplicatePosition),
        (lambda f: f.modify(2), UnknownPosition),
        (lambda f: f.close(2), UnknownPosition),
        (lambda f: f.open(3, volume=D(0)), InvalidFact),
        (lambda f: f.open(3, price_open=Decimal("NaN")), InvalidFact),
        (lambda f: f.modify(1, sl=D(-1)), InvalidFact),
    ],
)
def test_bad_position_fact_when_refused_then_risk_error_and_state_unchanged(
    call: Any, error: type[RiskError]
) -> None:
    feed = limited()
    feed.open(1)
    before = state_of(feed)
    with pytest.raises(error):
        call(feed)
    assert state_of(feed) == before


def test_position_state_when_built_then_defaults_mean_no_sl_tp() -> None:
    assert position(1).sl == position(1).tp == D(0)
