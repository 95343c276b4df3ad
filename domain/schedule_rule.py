"""The time rules of `AccountRisk` (domain/schedule.py has the calendar): warn before a
flat_by or weekend instant, flatten at it and hold the account REDUCING until the schedule
reopens, and record each change of the trading window. Time comes from facts only."""

from __future__ import annotations

from typing import Any

from domain import events as ev
from domain.account_base import RISK_ACTOR
from domain.feed_rule import FeedRules
from domain.inputs import FactRef
from domain.schedule import NO_SCHEDULE, FlatInstant, closed_reasons, flat_instants, held_reasons
from domain.trading_state import SEVERITY, most_severe


class ScheduleRules(FeedRules):
    def observe_clock(self, at: FactRef) -> None:
        """Time from a heartbeat: the stale feed (FeedRules), then the schedule."""
        super().observe_clock(at)
        self._check_schedule(at)

    def _schedule_done(self) -> dict[str, Any]:
        done: dict[str, Any] = self.__dict__.get("_schedule") or {
            "warned": {},
            "flattened": {},
            "closed": None,
            "at": None,
        }
        return done

    def _check_schedule(self, at: FactRef) -> None:
        """Warn, flatten, release and follow the window as of `at` (cheap when unscheduled)."""
        rules = self.rules
        if rules.schedule == NO_SCHEDULE and "_schedule" not in self.__dict__:
            return
        done = self._schedule_done()
        if done["at"] is not None and at.time < done["at"]:
            return  # a late fact: time never runs back past the schedule's last decision
        for instant in flat_instants(rules, at.time):
            flattened = done["flattened"].get(instant.rule)
            if flattened is not None and flattened >= instant.due:
                continue
            if at.time >= instant.due:
                self._flatten(instant, at)
            elif done["warned"].get(instant.rule) != instant.due:
                self._record(
                    ev.ScheduleWarning,
                    at,
                    rule=instant.rule,
                    label=instant.label,
                    due=instant.due,
                    warn_before_minutes=int((instant.due - instant.warn_from).total_seconds())
                    // 60,
                    positions=len(self._positions),
                )
        closed = "; ".join(closed_reasons(rules, at.time)) or None
        if closed != done["closed"]:
            self._record(ev.TradingWindowChanged, at, closed=closed, previous=done["closed"])
        if ev.SCHEDULE_HOLD in self._holds and not held_reasons(rules, at.time):
            self._release_schedule(at)

    def _flatten(self, instant: FlatInstant, at: FactRef) -> None:
        self._record(
            ev.ScheduleFlattened,
            at,
            rule=instant.rule,
            label=instant.label,
            due=instant.due,
            reopens=instant.reopens,
            positions=len(self._positions),
        )
        reason = f"{instant.label}: flat at {instant.due.isoformat()}"
        pending = self._pending
        if pending is not None:  # a loss rule's liquidation waits in its grace: it goes now
            self._liquidate(pending["rule"], f"{pending['reason']} ({reason})", at)
        elif self._positions and not self._closing_all():
            self._liquidate(ev.SCHEDULE_HOLD, reason, at, "REDUCING")
        else:
            self._hold("REDUCING", reason, at)

    def _release_schedule(self, at: FactRef) -> None:
        self._record(ev.ScheduleReleased, at, reason="the schedule reopens")
        target = most_severe(list(self._holds.values()))
        if SEVERITY[target] < SEVERITY[self._state]:
            self._change_state(target, "the schedule reopens", RISK_ACTOR, at)
