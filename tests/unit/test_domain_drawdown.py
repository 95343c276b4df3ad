"""Daily and max loss with the issue's worked numbers, DST, warnings, confirmations, grace."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from domain import InvalidControl
from domain.events import DrawdownBreached, TradingDayStarted, TradingStateChanged
from domain.rules import DailyLossRule, MaxLossRule
from domain.tradingday import trading_day
from tests.unit.test_domain_support import D, Feed, names, rules

PRAGUE = "Europe/Prague"
NO_MAX = MaxLossRule(enabled=False)
NO_DAILY = DailyLossRule(enabled=False)


def of(events: list[object], kind: type) -> list:  # type: ignore[type-arg]
    return [e for e in events if isinstance(e, kind)]


# --- daily loss -------------------------------------------------------------------------


def ftmo_after_midnight() -> Feed:
    """FTMO 2-step: initial 100,000; balance 105,000 at the first snapshot after midnight Prague."""
    feed = Feed(rules(daily_loss=DailyLossRule(timezone=PRAGUE), max_loss=NO_MAX))
    feed.snapshot("100000.00", at=datetime(2026, 3, 2, 10, tzinfo=UTC))
    feed.snapshot("105000.00", at=datetime(2026, 3, 2, 20, tzinfo=UTC))
    events = feed.snapshot("105000.00", at=datetime(2026, 3, 2, 23, 0, 1, tzinfo=UTC))
    (started,) = of(events, TradingDayStarted)
    assert started.day == date(2026, 3, 3)
    assert started.anchor == D("105000.00")
    assert started.daily_floor == D("100000.00")
    return feed


def test_daily_loss_when_ftmo_equity_at_floor_then_no_breach() -> None:
    feed = ftmo_after_midnight()
    events = feed.snapshot("105000.00", "100000.00")
    assert "DrawdownBreached" not in names(events)
    assert feed.account.trading_state == "ACTIVE"


def test_daily_loss_when_ftmo_equity_one_cent_below_floor_then_breach_and_liquidate() -> None:
    feed = ftmo_after_midnight()
    feed.open(7)
    events = feed.snapshot("105000.00", "99999.99")
    assert names(events) == [
        "DrawdownBreached",
        "LiquidationOrdered",
        "TradingStateChanged",
        "AccountStateRecorded",
    ]
    breach, liquidation, state, _ = events
    assert (breach.rule, breach.floor, breach.value, breach.anchor) == (
        "daily",
        D("100000.00"),
        D("99999.99"),
        D("105000.00"),
    )
    assert liquidation.identifiers == (7,)
    assert liquidation.command_id == f"acc-1-{liquidation.originator_version}"
    assert state.state == "HALTED"
    assert state.actor == "risk"
    assert breach.timestamp == feed.time  # the fact's time, not the wall clock
    kinds = {c["kind"] for c in feed.account.outstanding_commands.values()}
    assert kinds == {"close_all", "set_trading_state"}


def test_daily_loss_when_at_or_below_and_equity_at_floor_then_breach() -> None:
    feed = Feed(rules(daily_loss=DailyLossRule(breach_when="at_or_below"), max_loss=NO_MAX))
    feed.snapshot("100000.00")
    assert "DrawdownBreached" in names(feed.snapshot("100000.00", "95000.00"))


def test_daily_loss_when_the5ers_higher_of_balance_and_equity_then_floor_from_equity() -> None:
    daily = DailyLossRule(anchor="max_balance_equity", basis="anchor", limit_percent=D(3))
    feed = Feed(rules(daily_loss=daily, max_loss=NO_MAX))
    feed.snapshot("100000.00")
    feed.snapshot("104000.00", "106000.00", at=datetime(2026, 3, 2, 23, 59, 59, tzinfo=UTC))
    events = feed.snapshot("104000.00", "105000.00", at=datetime(2026, 3, 3, 0, 0, 5, tzinfo=UTC))
    (started,) = of(events, TradingDayStarted)
    assert (started.anchor, started.daily_floor) == (D("106000.00"), D("102820.00"))
    assert "DrawdownBreached" not in names(feed.snapshot("104000.00", "102820.00"))
    assert "DrawdownBreached" in names(feed.snapshot("104000.00", "102819.99"))


def test_daily_loss_when_position_within_limit_before_boundary_then_breaches_right_after() -> None:
    daily = DailyLossRule(basis="anchor", limit_percent=D(5))
    feed = Feed(rules(daily_loss=daily, max_loss=NO_MAX, initial_capital=None))
    feed.snapshot("100000.00", "100000.00", at=datetime(2026, 3, 2, 10, tzinfo=UTC))
    feed.snapshot("110000.00", "105000.00", at=datetime(2026, 3, 2, 23, 59, tzinfo=UTC))
    # new day: anchor balance 110,000, floor 104,500: equity 104,000 breaches at once
    events = feed.snapshot("110000.00", "104000.00", at=datetime(2026, 3, 3, 0, 1, tzinfo=UTC))
    assert names(events)[:2] == ["TradingDayStarted", "DrawdownBreached"]


def test_daily_loss_when_first_day_without_initial_capital_then_first_balance_is_capital() -> None:
    feed = Feed(rules(initial_capital=None, max_loss=NO_MAX))
    (started,) = of(feed.snapshot("50000.00", "49000.00"), TradingDayStarted)
    assert (started.initial_capital, started.anchor, started.daily_floor) == (
        D("50000.00"),
        D("50000.00"),
        D("47500.00"),
    )


# --- max loss ---------------------------------------------------------------------------


def test_max_loss_when_static_balance_92000_floating_minus_2001_then_breach() -> None:
    feed = Feed(rules(daily_loss=NO_DAILY))
    feed.snapshot("100000.00")
    events = feed.snapshot("92000.00", "89999.00")
    (breach,) = of(events, DrawdownBreached)
    assert (breach.rule, breach.floor, breach.value) == ("max", D("90000.00"), D("89999.00"))


@pytest.mark.parametrize(("basis", "floor"), [("peak", "95880.00"), ("initial", "96000.00")])
def test_max_loss_when_trailing_eod_high_102000_then_floor_by_basis(basis: str, floor: str) -> None:
    max_loss = MaxLossRule(kind="trailing_eod", limit_percent=D(6), basis=basis)  # type: ignore[arg-type]
    feed = Feed(rules(daily_loss=NO_DAILY, max_loss=max_loss))
    feed.snapshot("100000.00", at=datetime(2026, 3, 2, 9, tzinfo=UTC))
    feed.snapshot("102000.00", at=datetime(2026, 3, 2, 21, tzinfo=UTC))
    events = feed.snapshot("102000.00", "101000.00", at=datetime(2026, 3, 3, 1, tzinfo=UTC))
    assert names(events)[:2] == ["EndOfDayBalanceRecorded", "TradingDayStarted"]
    assert events[0].high == D("102000.00")
    assert feed.account.summary()["limits"]["max"]["floor"] == floor


def test_max_loss_when_trailing_eod_balance_falls_then_floor_does_not() -> None:
    max_loss = MaxLossRule(kind="trailing_eod", limit_percent=D(6))
    feed = Feed(rules(daily_loss=NO_DAILY, max_loss=max_loss))
    feed.snapshot("102000.00", at=datetime(2026, 3, 2, 9, tzinfo=UTC))
    feed.snapshot("101000.00", at=datetime(2026, 3, 3, 9, tzinfo=UTC))
    feed.snapshot("99000.00", at=datetime(2026, 3, 4, 9, tzinfo=UTC))
    assert feed.account.summary()["limits"]["max"]["floor"] == "96000.00"


def test_max_loss_when_trailing_intraday_peak_rises_then_floor_follows_to_the_cent() -> None:
    max_loss = MaxLossRule(kind="trailing_intraday", limit_percent=D(6), lock_at_initial=True)
    feed = Feed(rules(daily_loss=NO_DAILY, max_loss=max_loss))
    feed.snapshot("100000.00")
    events = feed.snapshot("100000.00", "100000.01")
    assert names(events)[0] == "PeakEquityRaised"
    assert events[0].max_floor == D("94000.01")
    assert "PeakEquityRaised" not in names(feed.snapshot("100000.00", "100000.01"))
    feed.snapshot("100000.00", "108000.00")
    assert feed.account.summary()["limits"]["max"]["floor"] == "100000.00"  # locked at initial


# --- trading day and DST ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("utc", "day"),
    [
        (datetime(2026, 3, 28, 22, 59, 59, tzinfo=UTC), date(2026, 3, 28)),  # 23:59:59 CET
        (datetime(2026, 3, 28, 23, 0, tzinfo=UTC), date(2026, 3, 29)),  # 00:00 CET
        (datetime(2026, 3, 29, 21, 59, 59, tzinfo=UTC), date(2026, 3, 29)),  # 23:59:59 CEST
        (datetime(2026, 3, 29, 22, 0, tzinfo=UTC), date(2026, 3, 30)),  # 00:00 CEST
        (datetime(2026, 10, 24, 22, 0, tzinfo=UTC), date(2026, 10, 25)),  # 00:00 CEST
        (datetime(2026, 10, 25, 22, 59, 59, tzinfo=UTC), date(2026, 10, 25)),  # 23:59:59 CET
        (datetime(2026, 10, 25, 23, 0, tzinfo=UTC), date(2026, 10, 26)),  # 00:00 CET
    ],
)
def test_trading_day_when_prague_midnight_across_dst_then_boundary_moves_with_offset(
    utc: datetime, day: date
) -> None:
    assert trading_day(utc, "00:00", PRAGUE).day == day


def test_trading_day_when_dst_change_days_then_23_and_25_hour_days() -> None:
    march = trading_day(datetime(2026, 3, 29, 12, tzinfo=UTC), "00:00", PRAGUE)
    october = trading_day(datetime(2026, 10, 25, 12, tzinfo=UTC), "00:00", PRAGUE)
    assert march.end - march.start == timedelta(hours=23)
    assert october.end - october.start == timedelta(hours=25)


def test_daily_loss_when_snapshot_at_prague_midnight_after_spring_change_then_new_anchor() -> None:
    feed = Feed(rules(daily_loss=DailyLossRule(timezone=PRAGUE), max_loss=NO_MAX))
    feed.snapshot("100000.00", at=datetime(2026, 3, 29, 12, tzinfo=UTC))
    feed.snapshot("103000.00", at=datetime(2026, 3, 29, 21, 59, 59, tzinfo=UTC))
    events = feed.snapshot("103000.00", at=datetime(2026, 3, 29, 22, 0, tzinfo=UTC))
    (started,) = of(events, TradingDayStarted)
    assert (started.day, started.anchor) == (date(2026, 3, 30), D("103000.00"))


# --- warnings, confirmations, grace -----------------------------------------------------


def test_warning_when_loss_crosses_fraction_then_once_until_recovered() -> None:
    feed = Feed(rules(max_loss=NO_MAX))  # daily 5,000 budget: warning at 4,000 lost

    def decided(balance: str, equity: str) -> list[str]:
        return [n for n in names(feed.snapshot(balance, equity)) if n != "AccountStateRecorded"]

    feed.snapshot("100000.00")
    assert decided("100000.00", "96000.01") == []
    assert decided("100000.00", "96000.00") == ["DrawdownWarning"]
    assert decided("100000.00", "95800.00") == []
    assert decided("100000.00", "96500.00") == ["DrawdownRecovered"]
    assert decided("100000.00", "95900.00") == ["DrawdownWarning"]


def test_warning_when_new_trading_day_still_in_zone_then_warns_again_once() -> None:
    feed = Feed(rules(max_loss=NO_MAX, daily_loss=DailyLossRule(basis="anchor", anchor="equity")))
    feed.snapshot("100000.00", at=datetime(2026, 3, 2, 9, tzinfo=UTC))
    assert "DrawdownWarning" in names(
        feed.snapshot("100000.00", "95900.00", at=datetime(2026, 3, 2, 20, tzinfo=UTC))
    )
    # new anchor 95,900 (the last equity before midnight): budget 4,795, warning at 92,064
    events = feed.snapshot("100000.00", "92000.00", at=datetime(2026, 3, 3, 9, tzinfo=UTC))
    assert names(events) == ["TradingDayStarted", "DrawdownWarning", "AccountStateRecorded"]
    assert events[0].anchor == D("95900.00")
    assert "DrawdownWarning" not in names(feed.snapshot("100000.00", "91900.00"))


def test_confirmations_when_three_needed_then_breach_on_third_consecutive_snapshot() -> None:
    feed = Feed(rules(max_loss=NO_MAX, breach_confirmations=3))
    feed.snapshot("100000.00")
    first = feed.snapshot("100000.00", "94000.00")
    assert names(first)[:2] == ["DrawdownWarning", "BreachConfirmationCounted"]
    assert first[1].count == 1
    assert names(feed.snapshot("100000.00", "94000.00")) == ["BreachConfirmationCounted"]
    assert names(feed.snapshot("100000.00", "94000.00"))[0] == "DrawdownBreached"


def test_confirmations_when_run_interrupted_then_count_restarts() -> None:
    feed = Feed(rules(max_loss=NO_MAX, breach_confirmations=2))
    feed.snapshot("100000.00")
    feed.snapshot("100000.00", "94000.00")
    reset = feed.snapshot("100000.00", "99000.00")
    assert reset[0].count == 0
    assert "DrawdownBreached" not in names(feed.snapshot("100000.00", "94000.00"))
    assert "DrawdownBreached" in names(feed.snapshot("100000.00", "94000.00"))


def grace_feed() -> Feed:
    feed = Feed(rules(max_loss=NO_MAX, liquidation_grace_seconds=30.0))
    feed.snapshot("100000.00")
    events = feed.snapshot("100000.00", "94000.00")
    assert names(events)[:2] == ["DrawdownBreached", "LiquidationPending"]
    assert events[1].grace_end == feed.time + timedelta(seconds=30)
    return feed


def test_grace_when_recovered_before_end_then_liquidation_cancelled() -> None:
    feed = grace_feed()
    events = feed.snapshot("100000.00", "95500.00", seconds=10)
    assert names(events)[:2] == ["DrawdownRecovered", "LiquidationCancelled"]
    assert feed.account.trading_state == "ACTIVE"
    assert feed.account.summary()["pending_liquidation"] is None


def test_grace_when_still_breached_at_end_then_liquidated_and_halted() -> None:
    feed = grace_feed()
    assert names(feed.snapshot("100000.00", "94000.00", seconds=29)) == []
    events = feed.snapshot("100000.00", "94000.00", seconds=1)
    assert names(events) == ["LiquidationOrdered", "TradingStateChanged"]
    assert feed.account.trading_state == "HALTED"


# --- actions and trading states ---------------------------------------------------------


def test_daily_loss_when_action_reduce_then_reducing_and_resume_refused() -> None:
    feed = Feed(rules(max_loss=NO_MAX, daily_loss=DailyLossRule(action="reduce")))
    feed.snapshot("100000.00")
    events = feed.snapshot("100000.00", "94000.00")
    assert of(events, TradingStateChanged)[0].state == "REDUCING"
    with pytest.raises(InvalidControl, match="not by an operator pause"):
        feed.control("resume")


def test_halted_when_resume_or_pause_then_refused_and_reset_reopens_with_actor() -> None:
    feed = Feed(rules(max_loss=NO_MAX, daily_loss=DailyLossRule(action="halt")))
    feed.snapshot("100000.00")
    feed.snapshot("100000.00", "94000.00")
    assert feed.account.trading_state == "HALTED"
    for action in ("resume", "pause"):
        with pytest.raises(InvalidControl):
            feed.control(action)
    assert feed.control("halt") == []  # no-op: already HALTED
    with pytest.raises(InvalidControl, match=r"beyond the daily floor 95000\.00"):
        feed.control("reset", actor="alice", reason="reviewed")
    feed.snapshot("100000.00", "95500.00")  # back above the floor
    (changed,) = feed.control("reset", actor="alice", reason="reviewed")
    assert (changed.state, changed.previous, changed.actor) == ("ACTIVE", "HALTED", "alice")
    assert changed.holds == {}


def test_reopen_when_next_day_then_active_again_at_first_snapshot_of_next_day() -> None:
    daily = DailyLossRule(action="halt", reopen="next_day")
    feed = Feed(rules(max_loss=NO_MAX, daily_loss=daily))
    feed.snapshot("100000.00", at=datetime(2026, 3, 2, 9, tzinfo=UTC))
    feed.snapshot("94000.00", at=datetime(2026, 3, 2, 10, tzinfo=UTC))
    assert feed.account.trading_state == "HALTED"
    assert names(feed.snapshot("94000.00", at=datetime(2026, 3, 2, 23, 59, tzinfo=UTC))) == []
    events = feed.snapshot("94000.00", at=datetime(2026, 3, 3, 0, 0, tzinfo=UTC))
    (changed,) = of(events, TradingStateChanged)
    assert (changed.state, changed.actor) == ("ACTIVE", "risk")


def test_reopen_when_reset_then_halted_across_days() -> None:
    feed = Feed(rules(max_loss=NO_MAX, daily_loss=DailyLossRule(action="halt")))
    feed.snapshot("100000.00", at=datetime(2026, 3, 2, 9, tzinfo=UTC))
    feed.snapshot("94000.00", at=datetime(2026, 3, 2, 10, tzinfo=UTC))
    feed.snapshot("94000.00", at=datetime(2026, 3, 3, 9, tzinfo=UTC))
    assert feed.account.trading_state == "HALTED"


def test_reopen_when_max_loss_also_holds_then_stays_halted() -> None:
    daily = DailyLossRule(action="halt", reopen="next_day", basis="anchor")
    feed = Feed(rules(daily_loss=daily, max_loss=MaxLossRule(action="halt")))
    feed.snapshot("100000.00", at=datetime(2026, 3, 2, 9, tzinfo=UTC))
    feed.snapshot("89000.00", at=datetime(2026, 3, 2, 10, tzinfo=UTC))
    feed.snapshot("89000.00", at=datetime(2026, 3, 3, 9, tzinfo=UTC))
    assert feed.account.trading_state == "HALTED"
    assert feed.account.holds == {"max": "HALTED"}


def test_control_when_pause_then_resume_then_active_with_actors() -> None:
    feed = Feed(rules())
    feed.snapshot("100000.00")
    (paused,) = feed.control("pause", actor="bob")
    assert (paused.state, paused.actor) == ("REDUCING", "bob")
    assert feed.control("pause") == []
    (resumed,) = feed.control("resume", actor="carol")
    assert (resumed.state, resumed.previous) == ("ACTIVE", "REDUCING")


def test_command_answered_when_known_then_outstanding_cleared_else_nothing() -> None:
    feed = Feed(rules())
    feed.snapshot("100000.00")
    (changed,) = feed.control("halt")
    account = feed.account
    account.observe_order_result("acc-1-999", True, "ok", feed.ref())
    assert feed.collect() == []
    account.observe_order_result(changed.command_id, True, "ok", feed.ref())
    assert names(feed.collect()) == ["CommandAnswered"]
    assert account.outstanding_commands == {}
    account.observe_order_result(changed.command_id, True, "ok", feed.ref())
    assert feed.collect() == []


def test_limits_when_changed_then_floors_recomputed_and_same_limits_refused() -> None:
    from domain import LimitsUnchanged

    feed = Feed(rules())
    feed.snapshot("100000.00")
    looser = rules(daily_loss=DailyLossRule(limit_percent=D(8)))
    feed.account.change_limits(looser, feed.ref())
    assert names(feed.collect()) == ["LimitsChanged"]
    assert feed.account.summary()["limits"]["daily"]["floor"] == "92000.00"
    with pytest.raises(LimitsUnchanged):
        feed.account.change_limits(looser, feed.ref())
    assert replace(looser) == feed.account.rules


def test_breach_when_daily_and_max_on_one_snapshot_then_one_close_all() -> None:
    # Issue 16 bug 9: 100,000 initial, daily floor 95,000 and max floor 90,000. Equity 89,000
    # breaks both on one snapshot: two breaches (each holds HALTED) but one CloseAll.
    feed = Feed(rules())
    feed.snapshot("100000.00")
    feed.open(7)
    events = feed.snapshot("100000.00", "89000.00")
    breaches = [e for e in events if type(e).__name__ == "DrawdownBreached"]
    assert sorted(b.rule for b in breaches) == ["daily", "max"]
    assert names(events).count("LiquidationOrdered") == 1
    kinds = [c["kind"] for c in feed.account.outstanding_commands.values()]
    assert kinds.count("close_all") == 1
    assert feed.account.summary()["holds"] == {"daily": "HALTED", "max": "HALTED"}
    again = feed.snapshot("100000.00", "88000.00")  # a later fact orders nothing more
    assert "LiquidationOrdered" not in names(again)
