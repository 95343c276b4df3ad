"""The decisions of the challenge objectives (domain/objective_rules.py).

State lives in `AccountRisk._objectives` (absent on aggregates recorded before objectives
existed): the trading days counted, each closed day's profit, which objectives are met, and
how the challenge ended.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from domain.events import RiskEvent

if TYPE_CHECKING:
    from domain.account import AccountRisk


def objective_state(aggregate: AccountRisk) -> dict[str, Any]:
    """The aggregate's objective state, created empty the first time it is needed."""
    state: dict[str, Any] | None = getattr(aggregate, "_objectives", None)
    if state is None:
        state = {"days": [], "day_profits": {}, "met": {}, "passed": False, "failed": None}
        aggregate.__dict__["_objectives"] = state
    return state


class TradingDayCounted(RiskEvent):
    """A position opened on `day`, the `count`-th trading day of the challenge."""

    day: date
    count: int

    def apply(self, aggregate: AccountRisk) -> None:
        objective_state(aggregate)["days"].append(self.day.isoformat())


class DayProfitRecorded(RiskEvent):
    """The closed profit of trading day `day`: its last balance minus its anchor balance."""

    day: date
    profit: Decimal

    def apply(self, aggregate: AccountRisk) -> None:
        objective_state(aggregate)["day_profits"][self.day.isoformat()] = self.profit


class ObjectiveMet(RiskEvent):
    objective: str
    value: Decimal
    target: Decimal

    def apply(self, aggregate: AccountRisk) -> None:
        objective_state(aggregate)["met"][self.objective] = True


class ObjectiveMissed(RiskEvent):
    """An objective not (or no longer) met: a met one lost, or a time limit run out."""

    objective: str
    value: Decimal
    target: Decimal

    def apply(self, aggregate: AccountRisk) -> None:
        objective_state(aggregate)["met"][self.objective] = False


class ChallengePassed(RiskEvent):
    """Every objective met at once, with no rule broken: `objectives` holds the numbers."""

    objectives: dict[str, Any]

    def apply(self, aggregate: AccountRisk) -> None:
        objective_state(aggregate)["passed"] = True


class ChallengeFailed(RiskEvent):
    """The challenge can no longer be passed: `rule` broken (daily, max, max_calendar_days)."""

    rule: str
    reason: str

    def apply(self, aggregate: AccountRisk) -> None:
        objective_state(aggregate)["failed"] = self.rule
