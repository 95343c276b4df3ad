"""What every rule of `AccountRisk` shares: its state's names and types, and how a decision
is recorded, a state held and a liquidation ordered (domain/account.py composes the rules)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

from eventsourcing.domain import Aggregate

from domain import events as ev
from domain.drawdown import Threshold, daily_threshold, equity_quantum, max_threshold
from domain.inputs import (
    FactRef,
)
from domain.money import CENT
from domain.rules import DailyLossRule, MaxLossRule, RiskRules
from domain.trading_state import (
    SEVERITY,
    TradingState,
)

RISK_ACTOR: Final = "risk"
HOLDING: Final[dict[str, TradingState]] = {"reduce": "REDUCING", "halt": "HALTED"}
"""The trading state a rule action holds the account in."""
RULES: Final = ("daily", "max")


class AccountBase(Aggregate):
    """The state of one account (set by `AccountRisk._init_state` and the events' `apply`)."""

    if TYPE_CHECKING:  # declared for the rule modules; the library would take class
        # annotations for constructor fields, so they exist for type checkers only

        account_id: str
        _rules_dict: dict[str, Any]
        _state: TradingState
        _state_reason: str
        _state_actor: str
        _state_since: Any
        _holds: dict[str, TradingState]
        _initial: Decimal | None
        _day: Any
        _day_start: Any
        _day_end: Any
        _anchor: Decimal | None
        _anchor_balance: Decimal | None
        _anchor_equity: Decimal | None
        _anchor_source: str | None
        _balance: Decimal | None
        _equity: Decimal | None
        _margin: Decimal | None
        _margin_free: Decimal | None
        _currency: str | None
        _observed_at: Any
        _observed_seq: int
        _high: Decimal | None
        _peak_run: tuple[Decimal, ...]
        _equity_step: Decimal
        _rule_state: dict[str, dict[str, Any]]
        _positions: dict[str, dict[str, Any]]
        _pending: dict[str, Any] | None
        _grace_used: dict[str, float]
        _feed_stale: bool
        _commands: dict[str, dict[str, Any]]
        _breaches: list[dict[str, Any]]

    @property
    def observed_seq(self) -> int:
        """The fact sequence of the last recorded snapshot (0: none)."""
        return getattr(self, "_observed_seq", 0)

    @property
    def latest_snapshot_at(self) -> datetime | None:
        """The latest snapshot time accepted, recorded or not: time may not run back past it."""
        observed: datetime | None = self.__dict__.get("_latest_at")
        recorded: datetime | None = self._observed_at
        if observed is None or (recorded is not None and recorded > observed):
            return recorded
        return observed

    @property
    def thresholds(self) -> dict[str, Threshold]:
        """Warning level and floor of each loss rule in force, derived from the rules and the
        recorded anchors and peak (cached, never persisted)."""
        found: dict[str, Threshold] | None = self.__dict__.get("_floors")
        if found is None:
            self._refloor()
            found = self.__dict__["_floors"]
        return found

    def _limit(self, rule: str) -> DailyLossRule | MaxLossRule:
        """The loss rule named `rule` (`daily` or `max`, as decisions name them)."""
        rules = self.rules
        return rules.daily_loss if rule == "daily" else rules.max_loss

    def _refloor(self) -> None:
        """Recompute warning levels and floors from the rules and the recorded anchors."""
        self.__dict__.pop("_thresholds", None)  # the untyped copy older snapshots persisted
        rules = self.rules
        floors: dict[str, Threshold] = {}
        self.__dict__["_floors"] = floors
        initial = self._initial
        if initial is None:
            return
        fraction = rules.warning_fraction
        daily = rules.daily_loss
        if daily.enabled and self._anchor is not None:
            floors["daily"] = daily_threshold(daily, initial, self._anchor, fraction)
        if rules.max_loss.enabled:
            floors["max"] = max_threshold(rules.max_loss, initial, self._high or initial, fraction)
        reads_equity = daily.enabled and daily.anchor != "balance"
        self._equity_step = CENT if reads_equity else equity_quantum(initial)

    @property
    def rules(self) -> RiskRules:
        """The rules in force, rebuilt from the recorded dict (cached, never persisted)."""
        cached: RiskRules | None = self.__dict__.get("_rules_cache")
        if cached is None:
            cached = RiskRules.from_dict(self._rules_dict)
            self.__dict__["_rules_cache"] = cached
        return cached

    def _floor(self, rule: str) -> Decimal | None:
        th = self.thresholds.get(rule)
        return None if th is None else th.floor

    def _closing_all(self) -> bool:
        """A CloseAll is ordered and not yet answered (a second one would close nothing more)."""
        return any(c["kind"] == "close_all" for c in self._commands.values())

    def _liquidate(
        self, rule: str, reason: str, at: FactRef, hold: TradingState = "HALTED"
    ) -> None:
        positions = sorted(self._positions.values(), key=lambda p: p["identifier"])
        self._record(
            ev.LiquidationOrdered,
            at,
            command_id=self._next_command_id(),
            rule=rule,
            identifiers=tuple(p["identifier"] for p in positions),
            tickets=tuple(p["ticket"] for p in positions),
            reason=reason,
        )
        self._hold(hold, reason, at)

    def _hold(self, state: TradingState, reason: str, at: FactRef) -> None:
        if SEVERITY[state] > SEVERITY[self._state]:
            self._change_state(state, reason, RISK_ACTOR, at)

    def _change_state(
        self,
        state: TradingState,
        reason: str,
        actor: str,
        at: FactRef,
        holds: dict[str, TradingState] | None = None,
    ) -> None:
        self._record(
            ev.TradingStateChanged,
            at,
            state=state,
            previous=self._state,
            reason=reason,
            actor=actor,
            command_id=self._next_command_id(),
            holds=dict(self._holds if holds is None else holds),
        )

    def _next_command_id(self) -> str:
        return f"{self.account_id}-{self.version + 1}"

    def _record(self, event_class: type[ev.RiskEvent], at: FactRef, **fields: Any) -> None:
        self.trigger_event(
            event_class, timestamp=at.time, account_id=self.account_id, seq=at.seq, **fields
        )
