"""The daily and max loss rules of `AccountRisk`: trading day and anchors, peaks, floors,
warnings, breaches, the liquidation grace, and the reset checks (domain/drawdown.py has the
arithmetic)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Final

from domain import events as ev
from domain.account_base import HOLDING, RISK_ACTOR, RULES, AccountBase
from domain.drawdown import (
    daily_threshold,
    is_beyond,
    max_threshold,
)
from domain.errors import (
    FactOutOfOrder,
    InvalidControl,
    InvalidFact,
    RiskError,
)
from domain.events import AnchorSource
from domain.inputs import (
    AccountState,
    FactRef,
)
from domain.money import CENT, ZERO
from domain.trading_state import (
    SEVERITY,
    most_severe,
)
from domain.tradingday import trading_day

ABSURD_FACTOR: Final = Decimal(100)
"""Equity further than this many initial capitals from balance is not believed."""


class LossRules(AccountBase):
    def _decide_loss(
        self, state: AccountState, balance: Decimal, equity: Decimal, decided: int, at: FactRef
    ) -> None:
        """Trading day, peaks, floors, warnings, breaches and the pending liquidation of one
        accepted snapshot, then its money (recorded when it changed, see `observe_account`)."""
        if self._day_end is None or at.time >= self._day_end:
            self._begin_day(state, balance, equity, at)
        if self.rules.max_loss.kind == "trailing_intraday":
            self._follow_peak(equity, at)
        for rule in RULES:
            if rule in self.thresholds:
                self._evaluate(rule, equity, at)
        if self._pending is not None:
            self._settle_pending(equity, at)
        last = self._equity
        if (
            last is None
            or balance != self._balance
            or abs(equity - last) >= self._equity_step
            or (len(self._pending_events) != decided and equity != last)
        ):
            self._record(
                ev.AccountStateRecorded,
                at,
                balance=balance,
                equity=equity,
                margin=state.margin,
                margin_free=state.margin_free,
                currency=state.currency,
            )

    def _start_day(self, event: ev.TradingDayStarted) -> None:
        self._day, self._day_start, self._day_end = event.day, event.start, event.end
        self._initial = event.initial_capital
        if self._high is None:
            self._high = event.initial_capital
        self._anchor = event.anchor
        self._anchor_balance = event.anchor_balance
        self._anchor_equity = event.anchor_equity
        self._anchor_source = event.anchor_source
        self._rule_state["daily"] = {"warned": False, "breached": False, "count": 0}
        self._grace_used = {}
        max_state = self._rule_state["max"]
        if not max_state["breached"]:
            max_state["warned"] = False
        if self.rules.daily_loss.reopen == "next_day":
            self._holds.pop("daily", None)
        self._refloor()

    def _rebase_day(self, event: ev.DayRebased) -> None:
        self._anchor = event.anchor
        self._anchor_balance = event.balance
        self._anchor_equity = event.equity
        self._anchor_source = "rebased"
        self._rule_state["daily"] = {"warned": False, "breached": False, "count": 0}
        self._grace_used = {k: v for k, v in getattr(self, "_grace_used", {}).items()
                            if k != "daily"}  # fmt: skip
        if self._pending is not None and self._pending["rule"] == "daily":
            self._pending = None
        self._refloor()

    def _check_account(self, state: AccountState, at: FactRef) -> tuple[Decimal, Decimal]:
        balance, equity = state.balance, state.equity
        for name, value in (
            ("balance", balance),
            ("equity", equity),
            ("margin", state.margin),
            ("margin_free", state.margin_free),
            ("reset_balance", state.reset_balance or ZERO),
            ("reset_equity", state.reset_equity or ZERO),
        ):
            if not value.is_finite():
                raise InvalidFact(f"account {self.account_id}: {name} {value} is not finite")
        if min(balance, state.reset_balance or ZERO) < ZERO:
            raise InvalidFact(f"account {self.account_id}: negative balance {balance}")
        # Negative equity is believed: an account that gapped past zero has breached.
        reference = self._initial or balance
        if abs(equity - balance) > ABSURD_FACTOR * max(reference, Decimal(1)):
            raise InvalidFact(
                f"account {self.account_id}: equity {equity} is absurdly far from balance "
                f"{balance} (over {ABSURD_FACTOR}x capital {reference})"
            )
        latest = self.latest_snapshot_at
        if latest is not None and at.time < latest:
            raise FactOutOfOrder(
                f"account {self.account_id}: snapshot at {at.time.isoformat()} is earlier "
                f"than the last one observed at {latest.isoformat()}"
            )
        if self._currency is not None and state.currency != self._currency:
            raise InvalidFact(
                f"account {self.account_id}: currency {state.currency!r} differs from the "
                f"account's {self._currency!r}"
            )
        return balance.quantize(CENT), equity.quantize(CENT)

    def recall_snapshot(self, state: AccountState, at: FactRef) -> None:
        """Re-observe a snapshot decided before a restart, after the last one recorded.

        Restores only what `observe_account` keeps in memory (the latest time accepted), so a
        restarted engine judges order exactly as an uninterrupted one.
        """
        if at.seq <= self.observed_seq:
            return
        try:
            self._check_account(state, at)
        except RiskError:
            return
        self.__dict__["_latest_at"] = at.time

    def _begin_day(
        self, state: AccountState, balance: Decimal, equity: Decimal, at: FactRef
    ) -> None:
        rules = self.rules
        daily = rules.daily_loss
        day = trading_day(at.time, daily.reset_time, daily.timezone)
        first = self._day is None
        initial = self._initial if self._initial is not None else balance
        anchor_balance, anchor_equity, source = self._day_anchor(state, day.start, at)
        anchor = _anchor_of(daily.anchor, anchor_balance, anchor_equity)
        if source == "estimated" and rules.initial_capital is not None:
            anchor = max(anchor, rules.initial_capital)
        if not first and rules.max_loss.kind == "trailing_eod" and self._balance is not None:
            self._record_end_of_day(self._balance, at)
        fraction = rules.warning_fraction
        daily_floor = (
            daily_threshold(daily, initial, anchor, fraction).floor if daily.enabled else None
        )
        self._record(
            ev.TradingDayStarted,
            at,
            day=day.day,
            start=day.start,
            end=day.end,
            initial_capital=initial,
            anchor=anchor,
            anchor_balance=anchor_balance,
            anchor_equity=anchor_equity,
            anchor_source=source,
            daily_floor=daily_floor,
            max_floor=self._floor("max"),
        )
        target = most_severe(list(self._holds.values()))
        if SEVERITY[target] < SEVERITY[self._state]:
            self._change_state(target, "daily loss reopens on the new trading day", RISK_ACTOR, at)

    def _day_anchor(
        self, state: AccountState, start: datetime, at: FactRef
    ) -> tuple[Decimal, Decimal, AnchorSource]:
        """Balance and equity at the reset instant `start`, and where they come from.

        The agent's rebuild from deal history (`reconstructed`) first, then the last values
        recorded at or before the reset (`recorded`); on the very first day, without either,
        the first snapshot (`estimated`, raised to initial capital by the caller).
        """
        reads = self.rules.daily_loss.anchor
        rebuilt_balance, rebuilt_equity = state.reset_balance, state.reset_equity
        if state.reset_at == start and rebuilt_balance is not None:
            if rebuilt_equity is not None:
                return rebuilt_balance, rebuilt_equity, "reconstructed"
            if reads == "balance":
                return rebuilt_balance, self._equity or state.equity, "reconstructed"
        balance, equity = state.balance.quantize(CENT), state.equity.quantize(CENT)
        if at.time == start:
            return balance, equity, "recorded"
        if self._balance is not None and self._equity is not None:
            return self._balance, self._equity, "recorded"
        return balance, equity, "estimated"

    def _record_end_of_day(self, balance: Decimal, at: FactRef) -> None:
        high = self._high if self._high is not None else balance
        new_high = max(high, balance)
        initial = self._initial if self._initial is not None else balance
        rule = self.rules.max_loss
        floor = max_threshold(rule, initial, new_high, self.rules.warning_fraction).floor
        self._record(
            ev.EndOfDayBalanceRecorded,
            at,
            day=self._day,
            balance=balance,
            high=new_high,
            max_floor=floor if rule.enabled else None,
        )

    def _follow_peak(self, equity: Decimal, at: FactRef) -> None:
        """Raise the trailing peak to the highest level held for `peak_runs` snapshots.

        The run is the latest consecutive snapshots above the peak (at most `peak_runs`); a
        snapshot at or below the peak ends it. With one run (the default) every new high
        raises the peak at once.
        """
        high = self._high
        if high is None:
            return
        run: tuple[Decimal, ...] = getattr(self, "_peak_run", ())
        if equity <= high:
            if run:
                self._record(ev.PeakConfirmationCounted, at, run=(), value=equity, peak=high)
            return
        runs = self.rules.peak_runs
        run = (*run, equity)[-runs:]
        held = min(run)
        if len(run) < runs or held <= high:
            self._record(ev.PeakConfirmationCounted, at, run=run, value=equity, peak=high)
            return
        initial = self._initial if self._initial is not None else held
        rule = self.rules.max_loss
        floor = max_threshold(rule, initial, held, self.rules.warning_fraction).floor
        kept = run[1:] if runs > 1 else ()
        self._record(
            ev.PeakEquityRaised,
            at,
            peak=held,
            max_floor=floor if rule.enabled else None,
            run=kept,
        )

    def _evaluate(self, rule: str, equity: Decimal, at: FactRef) -> None:
        th = self.thresholds[rule]
        state = self._rule_state[rule]
        breach_when = self._limit(rule).breach_when
        floor, warn_at = th.floor, th.warn_at
        if is_beyond(equity, floor, breach_when):
            if not state["breached"]:
                self._beyond(rule, equity, at)
            return
        if state["breached"] and equity < self._recovered_at(floor, warn_at):
            return  # not clear of the floor by `recover_margin` yet: still breached
        if state["count"]:
            self._record(
                ev.BreachConfirmationCounted, at, rule=rule, count=0, value=equity, floor=floor
            )
        warn = equity <= warn_at
        if state["breached"]:
            self._record(
                ev.DrawdownRecovered,
                at,
                rule=rule,
                recovered_from="breach",
                value=equity,
                floor=floor,
                warned=warn,
            )
        elif state["warned"] and not warn:
            self._record(
                ev.DrawdownRecovered,
                at,
                rule=rule,
                recovered_from="warning",
                value=equity,
                floor=floor,
                warned=False,
            )
        elif warn and not state["warned"]:
            self._record(
                ev.DrawdownWarning, at, rule=rule, value=equity, warning_level=warn_at, floor=floor
            )

    def _grace_spent(self, rule: str) -> float:
        """Seconds of `rule`'s liquidation grace used today by pendings since cancelled."""
        used: dict[str, float] = getattr(self, "_grace_used", {})
        return used.get(rule, 0.0)

    def _recovered_at(self, floor: Decimal, warn_at: Decimal) -> Decimal:
        """Equity a breach must reach to count as recovered: floor plus the hysteresis."""
        margin = (warn_at - floor) * self.rules.recover_margin
        return (floor + max(margin, ZERO)).quantize(CENT)

    def _beyond(self, rule: str, equity: Decimal, at: FactRef) -> None:
        th = self.thresholds[rule]
        state = self._rule_state[rule]
        rules = self.rules
        count = state["count"] + 1
        if count < rules.breach_confirmations:
            if not state["warned"]:
                self._record(
                    ev.DrawdownWarning,
                    at,
                    rule=rule,
                    value=equity,
                    warning_level=th.warn_at,
                    floor=th.floor,
                )
            self._record(
                ev.BreachConfirmationCounted,
                at,
                rule=rule,
                count=count,
                value=equity,
                floor=th.floor,
            )
            return
        limit = self._limit(rule)
        action = limit.action
        grace = rules.liquidation_grace_seconds
        holds = HOLDING.get(action)
        if action == "liquidate" and grace - self._grace_spent(rule) <= 0:
            holds = "HALTED"
        self._record(
            ev.DrawdownBreached,
            at,
            rule=rule,
            limit=th.reference - th.floor,
            floor=th.floor,
            value=equity,
            anchor=th.reference,
            breach_when=limit.breach_when,
            action=action,
            holds=holds,
        )
        sign = "<" if limit.breach_when == "below" else "<="
        reason = f"{rule} loss: equity {equity} {sign} floor {th.floor}"
        left = grace - self._grace_spent(rule)
        if action == "liquidate" and grace > 0 and left > 0:
            if self._pending is None:
                self._record(
                    ev.LiquidationPending,
                    at,
                    rule=rule,
                    grace_end=at.time + timedelta(seconds=left),
                    reason=reason,
                )
        elif action == "liquidate" and self._closing_all():
            self._hold("HALTED", reason, at)  # the CloseAll in flight closes everything
        elif action == "liquidate":
            self._liquidate(rule, reason, at)
        elif holds is not None:
            self._hold(holds, reason, at)

    def _settle_pending(self, equity: Decimal, at: FactRef) -> None:
        pending = self._pending
        assert pending is not None
        rule = pending["rule"]
        if not self._rule_state[rule]["breached"]:
            waited = (at.time - pending["since"]).total_seconds()
            self._record(
                ev.LiquidationCancelled,
                at,
                rule=rule,
                value=equity,
                floor=self._floor(rule),
                grace_used=self._grace_spent(rule) + max(waited, 0.0),
            )
        elif at.time >= pending["grace_end"]:
            self._liquidate(rule, f"{pending['reason']} (grace ended)", at)

    def _check_reset(self, reason: str, actor: str, at: FactRef, *, rebase: bool) -> None:
        equity, balance = self._equity, self._balance
        if equity is None or balance is None:
            return
        rules = self.rules
        max_th = self.thresholds.get("max")
        if max_th is not None and is_beyond(equity, max_th.floor, rules.max_loss.breach_when):
            raise InvalidControl(
                f"account {self.account_id}: cannot reset: equity {equity} is beyond the max "
                f"loss floor {max_th.floor} (no rebase moves it; change initial_capital)"
            )
        daily_th = self.thresholds.get("daily")
        beyond_daily = daily_th is not None and is_beyond(
            equity, daily_th.floor, rules.daily_loss.breach_when
        )
        if beyond_daily and not rebase:
            assert daily_th is not None
            raise InvalidControl(
                f"account {self.account_id}: cannot reset: equity {equity} is beyond the daily "
                f"floor {daily_th.floor}; reset --rebase anchors the day at the balance"
            )
        if not rebase:
            return
        initial = self._initial if self._initial is not None else balance
        daily = rules.daily_loss
        anchor = _anchor_of(daily.anchor, balance, equity)
        floor = (
            daily_threshold(daily, initial, anchor, rules.warning_fraction).floor
            if daily.enabled
            else None
        )
        self._record(
            ev.DayRebased,
            at,
            anchor=anchor,
            balance=balance,
            equity=equity,
            previous_anchor=self._anchor,
            daily_floor=floor,
            actor=actor,
            reason=reason,
        )


def _anchor_of(kind: str, balance: Decimal, equity: Decimal) -> Decimal:
    match kind:
        case "balance":
            return balance
        case "equity":
            return equity
        case _:
            return max(balance, equity)
