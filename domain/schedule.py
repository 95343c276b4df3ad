"""The calendar of an account's time rules (`RiskRules.schedule`): each rule's instants in
its IANA zone, DST-correct, and why opening is closed at an instant. Pure functions.

- `flat_by` on a listed day that is not a holiday: warn `warn_before_minutes` before the
  local `time`, flatten at it, and stay closed until the next trading day starts (the
  daily-loss `reset_time` in its zone: Topstep's 17:00 America/Chicago).
- `no_weekend_holding`: the same at Friday's local `friday_close`, closed until Monday
  00:00 local.
- `allowed_hours`: opening only from `start` to `end` local (`end` excluded; `start` after
  `end` is a window over midnight) on its days.
- `holidays`: local dates closed all day in the zone of `flat_by` and of `allowed_hours`
  (no flat_by instant on them). They never cancel `no_weekend_holding`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Final, Literal
from zoneinfo import ZoneInfo

from domain.rules import WEEKDAYS, AllowedHours, FlatBy, RiskRules, Schedule, WeekendClose
from domain.tradingday import day_start, trading_day

TimeRule = Literal["flat_by", "no_weekend_holding"]
NO_SCHEDULE: Final = Schedule()
_LOOK_BACK: Final = 3
"""Days before the local date whose closed periods may still run (Friday to Monday)."""


@dataclass(frozen=True, slots=True)
class FlatInstant:
    """One flatten instant of a rule: warned from `warn_from`, closed until `reopens`."""

    rule: TimeRule
    label: str
    warn_from: datetime
    due: datetime
    reopens: datetime


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _local_date(at: datetime, timezone: str) -> date:
    return at.astimezone(_zone(timezone)).date()


def flat_by_label(rule: FlatBy) -> str:
    return f"flat_by {rule.time} {rule.timezone}"


def weekend_label(rule: WeekendClose) -> str:
    return f"no_weekend_holding friday_close {rule.friday_close} {rule.timezone}"


def window_label(rule: AllowedHours) -> str:
    return f"allowed_hours {rule.start}-{rule.end} {rule.timezone}"


def _flat_by_on(
    rule: FlatBy, holidays: tuple[str, ...], reset: tuple[str, str], day: date
) -> FlatInstant | None:
    if WEEKDAYS[day.weekday()] not in rule.days or day.isoformat() in holidays:
        return None
    due = day_start(day, rule.time, rule.timezone)
    reopens = trading_day(due, *reset).end
    warn_from = due - timedelta(minutes=rule.warn_before_minutes)
    return FlatInstant("flat_by", flat_by_label(rule), warn_from, due, reopens)


def _weekend_on(rule: WeekendClose, day: date) -> FlatInstant | None:
    if WEEKDAYS[day.weekday()] != "fri":
        return None
    due = day_start(day, rule.friday_close, rule.timezone)
    reopens = day_start(day + timedelta(days=3), "00:00", rule.timezone)
    warn_from = due - timedelta(minutes=rule.warn_before_minutes)
    return FlatInstant("no_weekend_holding", weekend_label(rule), warn_from, due, reopens)


def flat_instants(rules: RiskRules, at: datetime) -> list[FlatInstant]:
    """The flatten instants whose warning or closed period contains `at`, by due time."""
    schedule = rules.schedule
    flat, weekend = schedule.flat_by, schedule.no_weekend_holding
    near = _instants_near(
        schedule,
        (rules.daily_loss.reset_time, rules.daily_loss.timezone),
        None if flat is None else _local_date(at, flat.timezone),
        None if weekend is None else _local_date(at, weekend.timezone),
    )
    return [i for i in near if i.warn_from <= at < i.reopens]


@lru_cache(maxsize=256)
def _instants_near(
    schedule: Schedule, reset: tuple[str, str], flat_today: date | None, weekend_today: date | None
) -> tuple[FlatInstant, ...]:
    """Every flatten instant from `_LOOK_BACK` local days before to the day after (once a day)."""
    found: list[FlatInstant | None] = []
    for back in range(-1, _LOOK_BACK + 1):
        if schedule.flat_by is not None and flat_today is not None:
            day = flat_today - timedelta(days=back)
            found.append(_flat_by_on(schedule.flat_by, schedule.holidays, reset, day))
        if schedule.no_weekend_holding is not None and weekend_today is not None:
            found.append(
                _weekend_on(schedule.no_weekend_holding, weekend_today - timedelta(days=back))
            )
    return tuple(sorted((i for i in found if i is not None), key=lambda i: i.due))


def _holiday_reasons(schedule: Schedule, at: datetime) -> list[str]:
    if not schedule.holidays:
        return []
    zones = [r.timezone for r in (schedule.flat_by, schedule.allowed_hours) if r is not None]
    reasons = []
    for zone in dict.fromkeys(zones):
        local = _local_date(at, zone).isoformat()
        if local in schedule.holidays:
            reasons.append(f"holiday {local} ({zone})")
    return reasons


def held_reasons(rules: RiskRules, at: datetime) -> list[str]:
    """Why the schedule holds the account REDUCING at `at`: a closed period or a holiday."""
    if rules.schedule == NO_SCHEDULE:
        return []
    reasons = [
        f"past {i.label} until {i.reopens.isoformat()}"
        for i in flat_instants(rules, at)
        if i.due <= at
    ]
    return reasons + _holiday_reasons(rules.schedule, at)


def _outside(window: AllowedHours, at: datetime) -> bool:
    local = at.astimezone(_zone(window.timezone))
    clock = f"{local.hour:02d}:{local.minute:02d}"
    if window.start < window.end:
        inside = window.start <= clock < window.end
        day = local.date()
    else:  # over midnight: the early hours belong to the window of the day before
        inside = clock >= window.start or clock < window.end
        day = local.date() - timedelta(days=1) if clock < window.end else local.date()
    return not inside or WEEKDAYS[day.weekday()] not in window.days


def closed_reasons(rules: RiskRules, at: datetime) -> list[str]:
    """Why opening new exposure is refused at `at` (empty: the schedule allows it)."""
    if rules.schedule == NO_SCHEDULE:
        return []
    reasons = held_reasons(rules, at)
    window = rules.schedule.allowed_hours
    if window is not None and _outside(window, at):
        reasons.append(f"outside {window_label(window)}")
    return reasons
