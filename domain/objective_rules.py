"""The challenge objectives of `AccountRisk` (`risk.objectives`; none by default).

- **Trading days**: a day of the daily-loss calendar on which a position was opened
  (FTMO: "ANY day ... during which the trader executes at least one trade ... you need to
  have at least one new position opened on each trading day").
- **Profit target**: the balance at `profit_target_percent` above initial capital with every
  position closed (FTMO: "in order to secure the Profit Target, all of your positions must
  be closed"); equity must be there too.
- **Best day**: the best closed day's profit at most `best_day_percent` of the total profit
  (FTMO 1-Step's Best Day Rule, 50%: "how large your most profitable day is in relation to
  your total profit"). Today counts with its closed profit so far.
- **Max calendar days**: the challenge must pass by the end of that many days from its
  first trading day.

A breach of max loss fails the challenge, as does a daily breach where the daily rule does
not reopen the next day (`daily_loss.reopen: next_day`, Topstep's, only ends the day).
Each change is recorded (domain/objective_events.py), so replay decides the same.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any, Final

from domain import objective_events as oev
from domain.account_base import AccountBase
from domain.inputs import FactRef
from domain.money import CENT
from domain.tradingday import trading_day

HUNDRED: Final = Decimal(100)
ZERO: Final = Decimal(0)


def _empty() -> dict[str, Any]:
    return {"days": [], "day_profits": {}, "met": {}, "passed": False, "failed": None}


class ObjectiveRules(AccountBase):
    @property
    def objective_progress(self) -> dict[str, Any]:
        """The recorded objective state (read only; empty before any objective decision)."""
        state: dict[str, Any] | None = getattr(self, "_objectives", None)
        return state if state is not None else _empty()

    def _count_trading_day(self, at: FactRef) -> None:
        """A position opened at `at`: its trading day counts once."""
        goals = self.rules.objectives
        progress = self.objective_progress
        if not goals.enabled or progress["passed"] or progress["failed"]:
            return
        daily = self.rules.daily_loss
        day = trading_day(at.time, daily.reset_time, daily.timezone).day
        if day.isoformat() in progress["days"]:
            return
        self._record(oev.TradingDayCounted, at, day=day, count=len(progress["days"]) + 1)
        self._check_objectives(at)

    def _close_day_profit(self, at: FactRef) -> None:
        """Before a new trading day begins: record the closing day's closed profit."""
        if not self.rules.objectives.enabled or self._day is None:
            return
        if self._balance is None or self._anchor_balance is None:
            return
        progress = self.objective_progress
        if progress["passed"] or progress["failed"]:
            return
        self._record(
            oev.DayProfitRecorded,
            at,
            day=self._day,
            profit=(self._balance - self._anchor_balance).quantize(CENT),
        )

    def _check_objectives(self, at: FactRef) -> None:
        goals = self.rules.objectives
        progress = self.objective_progress
        if not goals.enabled or progress["passed"] or progress["failed"]:
            return
        failed = self._failed_rule(at.time.date() if self._day is None else self._day)
        if failed is not None:
            rule, reason = failed
            self._record(oev.ChallengeFailed, at, rule=rule, reason=reason)
            return
        numbers = self._objective_numbers()
        for name, (value, target, met) in numbers.items():
            was = progress["met"].get(name)
            if met and was is not True:
                self._record(oev.ObjectiveMet, at, objective=name, value=value, target=target)
            elif not met and was is True:
                self._record(oev.ObjectiveMissed, at, objective=name, value=value, target=target)
        if numbers and all(met for _, _, met in numbers.values()):
            self._record(
                oev.ChallengePassed,
                at,
                objectives={
                    k: {"value": str(v), "target": str(t)} for k, (v, t, _) in numbers.items()
                },
            )

    def _failed_rule(self, today: date) -> tuple[str, str] | None:
        if self._rule_state["max"]["breached"]:
            return "max", "max loss breached"
        if self._rule_state["daily"]["breached"] and self.rules.daily_loss.reopen != "next_day":
            return "daily", "daily loss breached"
        limit = self.rules.objectives.max_calendar_days
        days = self.objective_progress["days"]
        if limit is not None and days:
            elapsed = (today - date.fromisoformat(days[0])).days + 1
            if elapsed > limit:
                return "max_calendar_days", (
                    f"day {elapsed} of a challenge of at most {limit} calendar days"
                )
        return None

    def _objective_numbers(self) -> dict[str, tuple[Decimal, Decimal, bool]]:
        """(value, target, met) of each objective configured, except the time limit."""
        goals = self.rules.objectives
        progress = self.objective_progress
        initial = self._initial
        balance = self._balance
        found: dict[str, tuple[Decimal, Decimal, bool]] = {}
        if goals.min_trading_days is not None:
            count = Decimal(len(progress["days"]))
            target = Decimal(goals.min_trading_days)
            found["min_trading_days"] = (count, target, count >= target)
        if initial is None or balance is None:
            return found
        profit = (balance - initial).quantize(CENT)
        if goals.profit_target_percent is not None:
            target = (initial * (1 + goals.profit_target_percent / HUNDRED)).quantize(CENT)
            flat = not self._positions
            equity = self._equity if self._equity is not None else balance
            found["profit_target"] = (balance, target, flat and min(balance, equity) >= target)
        if goals.best_day_percent is not None:
            days = [Decimal(p) for p in progress["day_profits"].values()]
            if self._anchor_balance is not None:
                days.append(balance - self._anchor_balance)
            best = max(days, default=ZERO).quantize(CENT)
            share = (best * HUNDRED / profit).quantize(Decimal("0.01")) if profit > 0 else HUNDRED
            found["best_day"] = (
                share,
                goals.best_day_percent,
                profit > 0 and share <= goals.best_day_percent,
            )
        return found
