"""Issue 19, time rules: flat_by, no_weekend_holding, allowed_hours and holidays, each
instant in its zone with DST, decided from the facts' times only."""

from __future__ import annotations

import textwrap
from dataclasses import replace
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from config import load_config, validate_files
from domain import FactRef, OrderRequest
from domain.pretrade import check_order
from domain.rules import (
    WEEKDAYS,
    AllowedHours,
    DailyLossRule,
    FeedRule,
    FlatBy,
    Schedule,
    WeekendClose,
)
from domain.schedule import closed_reasons, flat_instants
from engine.rules import rules_for
from tests.unit.test_domain_support import D, Feed, names, rebuild, rules

CHICAGO = "America/Chicago"
PRAGUE = "Europe/Prague"
TOPSTEP_DAY = DailyLossRule(reset_time="17:00", timezone=CHICAGO)
QUIET = FeedRule(stale_after_seconds=30 * 86400.0)  # heartbeats alone, no stale feed


def Z(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def scheduled(schedule: Schedule, **changes: Any) -> Any:
    return replace(rules(), schedule=schedule, daily_loss=TOPSTEP_DAY, feed=QUIET, **changes)


def flat_by(**fields: Any) -> Schedule:
    return Schedule(flat_by=FlatBy("15:10", CHICAGO, **fields))


def tick(feed: Feed, at: str) -> list[Any]:
    feed.account.observe_clock(feed.ref(Z(at)))
    return feed.collect()


def _open_feed(schedule: Schedule, start: str) -> Feed:
    feed = Feed(scheduled(schedule), start=Z(start))
    feed.snapshot("100000.00", seconds=1)
    feed.open(1)
    return feed


def test_flat_by_when_heartbeats_cross_it_then_warned_once_flattened_reducing_and_released() -> (
    None
):
    feed = _open_feed(flat_by(), "2026-03-02T14:00:00")  # Monday, CST: 15:10 is 21:10Z
    assert tick(feed, "2026-03-02T20:59:59") == []
    (warning,) = tick(feed, "2026-03-02T21:00:00")
    assert type(warning).__name__ == "ScheduleWarning"
    assert (warning.rule, warning.due, warning.warn_before_minutes, warning.positions) == (
        "flat_by",
        Z("2026-03-02T21:10:00"),
        10,
        1,
    )
    assert tick(feed, "2026-03-02T21:09:59") == []  # once
    events = tick(feed, "2026-03-02T21:10:00")
    assert names(events) == [
        "ScheduleFlattened",
        "LiquidationOrdered",
        "TradingStateChanged",
        "TradingWindowChanged",
    ]
    flattened, liquidation, state, window = events
    assert (flattened.label, flattened.positions) == ("flat_by 15:10 America/Chicago", 1)
    assert flattened.reopens == Z("2026-03-02T23:00:00")  # 17:00 CST, the next trading day
    assert (liquidation.rule, liquidation.identifiers) == ("schedule", (1,))
    assert state.state == "REDUCING"
    assert feed.account.holds == {"schedule": "REDUCING"}
    assert window.closed == "past flat_by 15:10 America/Chicago until 2026-03-02T23:00:00+00:00"
    answer, _ = feed.check(side="buy")
    assert not answer.approved
    assert window.closed in answer.reasons
    reducing, _ = feed.check(side="sell")
    assert reducing.approved
    assert tick(feed, "2026-03-02T22:59:59") == []
    events = tick(feed, "2026-03-02T23:00:00")
    assert names(events) == ["TradingWindowChanged", "ScheduleReleased", "TradingStateChanged"]
    assert events[0].closed is None
    assert (feed.account.trading_state, feed.account.holds) == ("ACTIVE", {})
    assert rebuild(feed.log) == feed.account


def test_flat_by_when_first_fact_is_a_late_snapshot_then_flattened_without_warning() -> None:
    feed = _open_feed(flat_by(), "2026-03-02T14:00:00")
    events = feed.snapshot("100000.00", at=Z("2026-03-02T21:30:00"))
    assert names(events)[:3] == ["ScheduleFlattened", "LiquidationOrdered", "TradingStateChanged"]
    assert not any(n == "ScheduleWarning" for n in names(feed.log))


def test_flat_by_when_flat_already_then_held_reducing_without_a_liquidation() -> None:
    feed = Feed(scheduled(flat_by()), start=Z("2026-03-02T14:00:00"))
    feed.snapshot("100000.00")
    events = tick(feed, "2026-03-02T21:10:00")
    assert names(events) == ["ScheduleFlattened", "TradingStateChanged", "TradingWindowChanged"]
    assert events[0].positions == 0
    assert feed.account.holds == {"schedule": "REDUCING"}


def test_flat_by_when_a_late_heartbeat_arrives_after_the_flatten_then_it_releases_nothing() -> None:
    feed = _open_feed(flat_by(), "2026-03-02T14:00:00")
    tick(feed, "2026-03-02T21:10:00")
    assert tick(feed, "2026-03-02T20:00:00") == []  # before the instant, but decided after it
    assert feed.account.holds == {"schedule": "REDUCING"}


def test_pretrade_when_past_flat_by_before_any_fact_then_denied_at_its_own_time() -> None:
    feed = _open_feed(flat_by(), "2026-03-02T14:00:00")
    feed.time = Z("2026-03-02T21:09:59")  # a check's time is its receive time, not a fact's
    assert feed.check()[0].approved
    feed.time = Z("2026-03-02T21:10:00")
    answer, _ = feed.check()
    assert feed.account.trading_state == "ACTIVE"  # no fact has crossed the instant yet
    assert answer.reasons == ("past flat_by 15:10 America/Chicago until 2026-03-02T23:00:00+00:00",)


def test_flat_by_when_not_a_listed_day_then_nothing() -> None:
    feed = _open_feed(flat_by(), "2026-03-07T14:00:00")  # Saturday
    assert tick(feed, "2026-03-07T21:10:00") == []
    assert tick(feed, "2026-03-08T21:10:00") == []  # Sunday


def test_flat_by_when_a_liquidation_is_pending_then_it_goes_now_and_holds_halted() -> None:
    feed = Feed(
        scheduled(flat_by(), liquidation_grace_seconds=600.0), start=Z("2026-03-02T14:00:00")
    )
    feed.snapshot("100000.00")
    feed.open(1)
    breach = feed.snapshot("100000.00", "94900.00", at=Z("2026-03-02T21:05:00"))  # floor 95,000
    assert "LiquidationPending" in names(breach)
    events = tick(feed, "2026-03-02T21:10:00")
    assert names(events)[:3] == ["ScheduleFlattened", "LiquidationOrdered", "TradingStateChanged"]
    assert events[1].rule == "daily"
    assert feed.account.trading_state == "HALTED"
    assert feed.account.holds == {"schedule": "REDUCING", "daily": "HALTED"}
    tick(feed, "2026-03-02T23:00:01")  # the schedule reopens; the daily hold stays
    assert feed.account.holds["daily"] == "HALTED"
    assert feed.account.trading_state == "HALTED"


def test_allowed_hours_when_outside_then_opening_denied_naming_the_window() -> None:
    window = Schedule(allowed_hours=AllowedHours("08:00", "20:00", PRAGUE))
    feed = Feed(scheduled(window), start=Z("2026-03-02T06:59:00"))  # 07:59 CET
    events = feed.snapshot("100000.00", seconds=0)
    assert "TradingWindowChanged" in names(events)
    answer, _ = feed.check()
    assert answer.reasons == ("outside allowed_hours 08:00-20:00 Europe/Prague",)
    (opened,) = tick(feed, "2026-03-02T07:00:00")
    assert (type(opened).__name__, opened.closed) == ("TradingWindowChanged", None)
    assert feed.check()[0].approved
    assert tick(feed, "2026-03-02T18:59:59") == []
    (closed,) = tick(feed, "2026-03-02T19:00:00")
    assert closed.closed == "outside allowed_hours 08:00-20:00 Europe/Prague"
    assert feed.account.trading_state == "ACTIVE"  # a window denies opening, holds nothing
    feed.open(1)
    assert feed.check(side="sell")[0].approved  # reducing always passes
    assert not feed.check(side="buy")[0].approved


def test_allowed_hours_when_over_midnight_then_early_hours_belong_to_the_day_before() -> None:
    night = replace(
        rules(), schedule=Schedule(allowed_hours=AllowedHours("22:00", "06:00", "UTC", ("mon",)))
    )
    assert closed_reasons(night, Z("2026-03-02T23:00:00")) == []  # Monday night
    assert closed_reasons(night, Z("2026-03-03T05:59:00")) == []  # still Monday's window
    assert closed_reasons(night, Z("2026-03-03T06:00:00")) != []
    assert closed_reasons(night, Z("2026-03-03T23:00:00")) != []  # Tuesday is not listed


def test_no_weekend_holding_when_friday_close_then_flattened_until_monday() -> None:
    weekend = Schedule(no_weekend_holding=WeekendClose("22:00", "UTC"))
    feed = _open_feed(weekend, "2026-03-06T12:00:00")  # Friday
    (warning,) = tick(feed, "2026-03-06T21:50:00")
    assert (warning.rule, warning.due) == ("no_weekend_holding", Z("2026-03-06T22:00:00"))
    events = tick(feed, "2026-03-06T22:00:00")
    assert names(events)[:3] == ["ScheduleFlattened", "LiquidationOrdered", "TradingStateChanged"]
    assert events[0].reopens == Z("2026-03-09T00:00:00")
    assert tick(feed, "2026-03-08T22:00:00") == []  # Sunday: still closed
    answer, _ = feed.check(side="buy", volume="0.2")
    assert any(
        r.startswith("past no_weekend_holding friday_close 22:00 UTC") for r in answer.reasons
    )
    events = tick(feed, "2026-03-09T00:00:01")
    assert "ScheduleReleased" in names(events)
    assert feed.account.trading_state == "ACTIVE"
    assert rebuild(feed.log) == feed.account


def _due(schedule: Schedule, at: str) -> list[datetime]:
    return [i.due for i in flat_instants(scheduled(schedule), Z(at))]


def test_flat_by_when_us_dst_starts_before_europe_then_instant_moves_an_hour_in_utc() -> None:
    # US DST from Sunday March 8 2026, Europe's from March 29: 15:10 CST = 21:10Z, CDT 20:10Z.
    assert _due(flat_by(), "2026-03-06T21:05:00") == [Z("2026-03-06T21:10:00")]
    assert _due(flat_by(), "2026-03-09T20:05:00") == [Z("2026-03-09T20:10:00")]
    window = scheduled(Schedule(allowed_hours=AllowedHours("08:00", "20:00", PRAGUE)))
    assert closed_reasons(window, Z("2026-03-09T18:59:00")) == []  # Prague still CET
    assert closed_reasons(window, Z("2026-03-09T19:00:00")) != []
    assert closed_reasons(window, Z("2026-03-30T17:59:00")) == []  # CEST from March 29
    assert closed_reasons(window, Z("2026-03-30T18:00:00")) != []


def test_flat_by_when_europe_dst_ends_before_us_then_each_zone_keeps_its_own_offset() -> None:
    # Europe back on CET from October 25 2026, the US on CST only from November 1.
    assert _due(flat_by(), "2026-10-23T20:05:00") == [Z("2026-10-23T20:10:00")]
    assert _due(flat_by(), "2026-10-26T20:05:00") == [Z("2026-10-26T20:10:00")]
    assert _due(flat_by(), "2026-11-02T21:05:00") == [Z("2026-11-02T21:10:00")]
    window = scheduled(Schedule(allowed_hours=AllowedHours("08:00", "20:00", PRAGUE)))
    assert closed_reasons(window, Z("2026-10-23T17:59:00")) == []  # CEST
    assert closed_reasons(window, Z("2026-10-23T18:00:00")) != []
    assert closed_reasons(window, Z("2026-10-26T18:59:00")) == []  # CET
    assert closed_reasons(window, Z("2026-10-26T19:00:00")) != []


def test_flat_by_across_us_dst_when_decided_then_flattened_at_the_summer_instant() -> None:
    feed = _open_feed(flat_by(), "2026-03-09T14:00:00")  # Monday after US DST started
    assert tick(feed, "2026-03-09T19:59:59") == []
    assert names(tick(feed, "2026-03-09T20:00:00")) == ["ScheduleWarning"]
    assert names(tick(feed, "2026-03-09T20:10:00"))[0] == "ScheduleFlattened"
    assert feed.account.holds == {"schedule": "REDUCING"}
    released = tick(feed, "2026-03-09T22:00:00")  # 17:00 CDT
    assert "ScheduleReleased" in names(released)


def test_holiday_when_given_then_no_flat_by_that_day_and_window_closed() -> None:
    holiday = Schedule(
        flat_by=FlatBy("15:10", CHICAGO),
        allowed_hours=AllowedHours("08:00", "20:00", PRAGUE),
        holidays=("2026-12-25",),
    )
    assert _due(holiday, "2026-12-25T21:10:00") == []  # a Friday, no flat_by
    assert _due(holiday, "2026-12-24T21:10:00") == [Z("2026-12-24T21:10:00")]
    reasons = closed_reasons(scheduled(holiday), Z("2026-12-25T12:00:00"))
    assert reasons == ["holiday 2026-12-25 (America/Chicago)", "holiday 2026-12-25 (Europe/Prague)"]
    feed = Feed(scheduled(holiday), start=Z("2026-12-25T12:00:00"))
    feed.snapshot("100000.00")
    answer, _ = feed.check()
    assert "holiday 2026-12-25 (Europe/Prague)" in answer.reasons
    assert not any(n == "ScheduleFlattened" for n in names(tick(feed, "2026-12-25T21:10:00")))
    assert closed_reasons(scheduled(holiday), Z("2026-12-28T12:00:00")) == []


def test_schedule_when_aggregate_rebuilt_midway_then_it_decides_the_same() -> None:
    feed = _open_feed(flat_by(), "2026-03-02T14:00:00")
    tick(feed, "2026-03-02T21:00:00")
    twin = rebuild(feed.log)
    assert twin == feed.account
    events = tick(feed, "2026-03-02T21:10:00")
    twin.observe_clock(FactRef(feed.seq, feed.time))
    again = list(twin.collect_events())
    assert [(type(e).__name__, e.__dict__) for e in again] == [
        (type(e).__name__, e.__dict__) for e in events
    ]


def test_schedule_when_none_then_rules_dict_unchanged_and_nothing_recorded() -> None:
    plain = rules()
    assert "schedule" not in plain.to_dict()
    with_schedule = scheduled(flat_by(days=("mon", "fri")))
    assert type(with_schedule).from_dict(with_schedule.to_dict()) == with_schedule
    feed = Feed(replace(plain, feed=QUIET))
    feed.snapshot("100000.00")
    assert tick(feed, "2026-03-02T21:10:00") == []


def _config(tmp_path: Path, risk: str) -> Path:
    path = tmp_path / "cfg.yaml"
    path.write_text(
        "accounts:\n  - id: acc-1\n    symbols: [{name: EURUSD}]\n    risk:\n"
        + textwrap.indent(textwrap.dedent(risk), "      ")
    )
    return path


def test_schedule_config_when_invalid_then_each_error_names_key_line_and_rule(
    tmp_path: Path,
) -> None:
    path = _config(
        tmp_path,
        """\
        schedule:
          flat_by: {time: "25:10", timezone: America/Chicgo, days: [mon, fun]}
          allowed_hours: {start: "08:00", end: "08:00", timezone: UTC}
          holidays: [2026-13-01]
        """,
    )
    found = {(e.path, e.rule, e.line) for e in validate_files(path).errors}
    schedule = "accounts[0].risk.schedule"
    assert found == {
        (f"{schedule}.flat_by.time", "time_of_day", 6),
        (f"{schedule}.flat_by.timezone", "timezone", 6),
        (f"{schedule}.flat_by.days[1]", "choice", 6),
        (f"{schedule}.allowed_hours", "value_error", 7),
        (f"{schedule}.holidays[0]", "type", 8),
    }


def test_schedule_config_when_holidays_without_a_zone_or_flat_at_reset_then_refused(
    tmp_path: Path,
) -> None:
    lonely = _config(tmp_path, "schedule: {holidays: [2026-12-25]}\n")
    (error,) = validate_files(lonely).errors
    assert "holidays need flat_by or allowed_hours" in error.message
    at_reset = _config(
        tmp_path,
        """\
        daily_loss: {reset_time: "17:00", timezone: America/Chicago}
        schedule: {flat_by: {time: "17:00", timezone: America/Chicago}}
        """,
    )
    (error,) = validate_files(at_reset).errors
    assert "is the daily reset" in error.message


def test_schedule_config_when_valid_then_mapped_to_the_domain(tmp_path: Path) -> None:
    path = _config(
        tmp_path,
        """\
        schedule:
          flat_by: {time: "15:10", timezone: America/Chicago, warn_before_minutes: 5}
          allowed_hours: {start: "08:00", end: "20:00", timezone: Europe/Prague}
          no_weekend_holding: {friday_close: "22:00"}
          holidays: [2026-12-31, 2026-12-25]
        """,
    )
    schedule = rules_for(load_config(path).account("acc-1")).schedule
    assert schedule == Schedule(
        flat_by=FlatBy("15:10", CHICAGO, ("mon", "tue", "wed", "thu", "fri"), 5),
        allowed_hours=AllowedHours("08:00", "20:00", PRAGUE),
        no_weekend_holding=WeekendClose("22:00", "UTC", 10),
        holidays=("2026-12-25", "2026-12-31"),
    )


def test_topstep_preset_when_loaded_then_flat_by_15_10_chicago_monday_to_friday(
    tmp_path: Path,
) -> None:
    path = _config(tmp_path, "preset: topstep-50k\n")
    topstep = rules_for(load_config(path).account("acc-1"))
    assert topstep.schedule.flat_by == FlatBy("15:10", CHICAGO, ("mon", "tue", "wed", "thu", "fri"))
    assert topstep.daily_loss.reset_time == "17:00"


ZONES = ("America/Chicago", "Europe/Prague", "America/New_York", "Australia/Sydney", "UTC")


@settings(max_examples=300, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    hour=st.integers(0, 23),
    minute=st.integers(0, 59),
    day=st.dates(min_value=date(2026, 1, 5), max_value=date(2026, 12, 20)),
)
def test_flat_by_when_any_zone_time_and_day_then_closed_from_the_local_instant(
    zone: str, hour: int, minute: int, day: date
) -> None:
    clock = f"{hour:02d}:{minute:02d}"
    every_day = Schedule(flat_by=FlatBy(clock, zone, days=WEEKDAYS))
    risk = replace(rules(), schedule=every_day, daily_loss=DailyLossRule(reset_time="00:00"))
    assume((clock, zone) != ("00:00", "UTC"))
    expected = datetime.combine(day, time(hour, minute), tzinfo=ZoneInfo(zone)).astimezone(UTC)
    dues = [i.due for i in flat_instants(risk, expected)]
    assert expected in dues
    reasons = closed_reasons(risk, expected)
    assert any(r.startswith(f"past flat_by {clock} {zone}") for r in reasons)
    request = OrderRequest("EURUSD", "buy", D("0.1"), D("1.1"), D(0), D(0), "c")
    answer = check_order(risk, "ACTIVE", [], request, market=None, now=expected, equity=None)
    assert not answer.approved
