"""`AccountRisk`: one account's risk state, rebuilt from its decisions, deciding on facts.

Command methods check first (`_check_*`, raising a `RiskError` before anything is recorded),
then record decisions (domain/events.py says how each evolves the state). Each rule is a
module: domain/loss_rules.py (daily and max loss), domain/position_rules.py (positions and
limits), domain/feed_rule.py (stale feed), domain/schedule_rule.py (time rules),
domain/objective_rules.py (challenge objectives); pre-trade
is domain/pretrade.py and the trading states domain/trading_state.py. domain/account_base.py
holds what they share.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Final
from uuid import UUID, uuid5

from eventsourcing.domain import Snapshot as LibrarySnapshot
from eventsourcing.utils import get_topic

from domain import events as ev
from domain.account_base import RISK_ACTOR, RULES
from domain.errors import (
    InvalidControl,
    InvalidFact,
    LimitsUnchanged,
)
from domain.group import GroupView
from domain.group_events import GroupMember
from domain.inputs import (
    AccountState,
    FactRef,
    MarketEvidence,
    OrderRequest,
    PositionState,
    PreTradeAnswer,
)
from domain.loss_rules import LossRules
from domain.money import CENT
from domain.news_rule import NewsRules
from domain.objective_rules import ObjectiveRules
from domain.position_rules import PositionRules
from domain.pretrade import check_order as pretrade_check
from domain.rules import RiskRules
from domain.schedule_rule import ScheduleRules
from domain.signal_rules import SignalRules
from domain.summary import summarize
from domain.trading_state import (
    CONTROL_ACTIONS,
    ControlAction,
    TradingState,
    holds_after_control,
    most_severe,
)

NAMESPACE: Final = UUID("6f1c1c3e-4d0e-5b8a-9a57-0b7d1e4c2a10")
"""Namespace of `account_risk_id`; never change it (ids in the store derive from it)."""
_TRANSIENT: Final = frozenset({"_rules_cache", "_latest_at", "_floors", "_calendar_cache"})
"""Never persisted: `_latest_at`, the latest snapshot time accepted, is rebuilt on start by
`recall_snapshot` from the facts after the last recorded snapshot; `_floors` (the typed
`thresholds`) is derived from the rules, anchors and peak whenever it is missing."""
_NOT_COMPARED: Final = _TRANSIENT | {"_pending_events"}


def account_risk_id(account_id: str) -> UUID:
    """The aggregate id of an account: UUID5 of its id in a fixed namespace."""
    return uuid5(NAMESPACE, account_id)


class AccountRisk(
    NewsRules, LossRules, PositionRules, ScheduleRules, SignalRules, ObjectiveRules, GroupMember
):
    """Position limits, daily and max loss, trading state and pre-trade of one account."""

    Event = ev.RiskEvent

    class Snapshot(LibrarySnapshot):
        @classmethod
        def take(cls, aggregate: Any) -> AccountRisk.Snapshot:
            """Snapshot a deep copy of the persisted state, stamped with the last event's time."""
            state = {
                k: copy.deepcopy(v)
                for k, v in vars(aggregate).items()
                if k not in _TRANSIENT and k not in ("_id", "_version", "_pending_events")
            }
            return cls(
                originator_id=aggregate.id,
                originator_version=aggregate.version,
                timestamp=aggregate.modified_on,
                topic=get_topic(type(aggregate)),
                state=state,
            )

    # --- creation and state -------------------------------------------------------

    @classmethod
    def register(cls, account_id: str, rules: RiskRules, at: FactRef) -> AccountRisk:
        """Start tracking `account_id` under `rules`."""
        if not account_id:
            raise InvalidFact("account id must not be empty")
        return cls._create(
            ev.AccountRegistered,
            id=account_risk_id(account_id),
            timestamp=at.time,
            account_id=account_id,
            seq=at.seq,
            rules=rules.to_dict(),
        )

    def _init_state(self, account_id: str, rules: dict[str, Any]) -> None:
        self.account_id: str = account_id
        self._rules_dict: dict[str, Any] = {}
        self._state: TradingState = "ACTIVE"
        self._state_reason: str = "registered"
        self._state_actor: str = RISK_ACTOR
        self._state_since: Any = self.created_on
        self._holds: dict[str, TradingState] = {}
        self._initial: Decimal | None = None
        self._day: Any = None
        self._day_start: Any = None
        self._day_end: Any = None
        self._anchor: Decimal | None = None
        self._anchor_balance: Decimal | None = None
        self._anchor_equity: Decimal | None = None
        self._anchor_source: str | None = None
        self._balance: Decimal | None = None
        self._equity: Decimal | None = None
        self._margin: Decimal | None = None
        self._margin_free: Decimal | None = None
        self._currency: str | None = None
        self._observed_at: Any = None
        self._observed_seq: int = 0
        self._high: Decimal | None = None
        self._peak_run: tuple[Decimal, ...] = ()
        self._equity_step: Decimal = CENT
        self._rule_state: dict[str, dict[str, Any]] = {
            rule: {"warned": False, "breached": False, "count": 0} for rule in RULES
        }
        self._positions: dict[str, dict[str, Any]] = {}
        self._pending: dict[str, Any] | None = None
        self._grace_used: dict[str, float] = {}
        self._feed_stale: bool = False
        self._commands: dict[str, dict[str, Any]] = {}
        self._breaches: list[dict[str, Any]] = []
        self._set_rules(rules)

    def _set_rules(self, rules: dict[str, Any]) -> None:
        self._rules_dict = copy.deepcopy(rules)
        self.__dict__.pop("_rules_cache", None)
        initial = self.rules.initial_capital
        if initial is not None:
            self._initial = initial
        self._refloor()

    def __eq__(self, other: object) -> bool:
        if type(self) is not type(other):
            return False
        mine = {k: v for k, v in self.__dict__.items() if k not in _NOT_COMPARED}
        theirs = {k: v for k, v in other.__dict__.items() if k not in _NOT_COMPARED}
        return mine == theirs

    __hash__ = None  # type: ignore[assignment]

    # --- read side ------------------------------------------------------------------

    @property
    def trading_state(self) -> TradingState:
        return self._state

    @property
    def holds(self) -> dict[str, TradingState]:
        """What keeps the account below ACTIVE: rule name or `operator` -> state it holds."""
        return dict(self._holds)

    @property
    def outstanding_commands(self) -> Mapping[str, Mapping[str, Any]]:
        """Commands ordered and not yet answered: command id -> kind and details.

        A read-only view, not a copy (cheap enough to take per fact); do not mutate the specs.
        """
        return MappingProxyType(self._commands)

    @property
    def positions(self) -> dict[str, dict[str, Any]]:
        """Open positions by MT5 identifier (as a string)."""
        return copy.deepcopy(self._positions)

    def summary(self) -> dict[str, Any]:
        """Everything `mtq risk show` prints, as plain data."""
        return summarize(self)

    # --- decisions ---------------------------------------------------------------------

    def change_limits(self, rules: RiskRules, at: FactRef, actor: str | None = None) -> None:
        """Put new rules in force (by `actor`: a reload); LimitsUnchanged when in force."""
        data = rules.to_dict()
        if data == self._rules_dict:
            raise LimitsUnchanged(f"account {self.account_id}: limits already in force")
        self._record(ev.LimitsChanged, at, rules=data, actor=actor)

    def observe_account(self, state: AccountState, at: FactRef) -> None:
        """Decide on an account snapshot: feed, trading day, floors, warnings, breaches.

        The balance is recorded whenever it changes, equity when it moved by the recording
        step or when the snapshot decided anything else; a snapshot that changes nothing
        records nothing.
        """
        balance, equity = self._check_account(state, at)
        last_seen = self.latest_snapshot_at
        self.__dict__["_latest_at"] = at.time
        decided = len(self._pending_events)
        if getattr(self, "_feed_stale", False):
            self._restore_feed(last_seen, at)
        if self._day_end is not None and at.time >= self._day_end:
            self._close_day_profit(at)
        self._decide_loss(state, balance, equity, decided, at)
        self._check_schedule(at)
        self._check_objectives(at)

    def observe_opened(self, position: PositionState, at: FactRef) -> None:
        """Track a new position (domain/position_rules.py); its day is a trading day."""
        super().observe_opened(position, at)
        self._count_trading_day(at)

    def observe_order_result(
        self, command_id: str, executed: bool, detail: str, at: FactRef
    ) -> None:
        """Record the agent's answer to one of our commands; unknown ids record nothing."""
        if command_id in self._commands:
            self._record(
                ev.CommandAnswered, at, command_id=command_id, executed=executed, detail=detail
            )

    def check_order(
        self,
        request: OrderRequest,
        market: MarketEvidence | None,
        at: FactRef,
        group: GroupView | None = None,
    ) -> PreTradeAnswer:
        """Answer a pre-trade check and record it (OrderApproved or OrderDenied); `group`:
        its account group now, when it is in one (domain/group.py)."""
        for name in ("volume", "price", "sl", "tp"):
            value: Decimal = getattr(request, name)
            if not value.is_finite():
                raise InvalidFact(f"order {request.client_order_id}: {name} {value} is not finite")
        answer = pretrade_check(
            self.rules,
            self._state,
            list(self._positions.values()),
            request,
            market=market,
            now=at.time,
            equity=self._equity,
            liquidation_pending=None if self._pending is None else self._pending["reason"],
            blackout=self.blackout_reasons(request.symbol, at.time),
            group=group,
        )
        event_class = ev.OrderApproved if answer.approved else ev.OrderDenied
        self._record(
            event_class,
            at,
            request=_request_dict(request),
            reasons=answer.reasons,
            market=_market_dict(market),
            limits=dict(answer.limits),
            trading_state=self._state,
        )
        return answer

    def control(
        self,
        action: ControlAction,
        reason: str,
        actor: str,
        at: FactRef,
        *,
        rebase: bool = False,
    ) -> None:
        """An operator's pause, resume, halt or reset; InvalidControl when not allowed.

        A reset while equity is still beyond a floor is refused: it would reopen an account
        the firm's rule has closed. With `rebase` the day's anchor moves to the balance
        first (DayRebased, with the actor and reason); the max floor never moves.
        """
        if action not in CONTROL_ACTIONS:
            raise InvalidControl(f"unknown control {action!r}; one of {', '.join(CONTROL_ACTIONS)}")
        if not actor:
            raise InvalidControl(f"control {action} needs an actor")
        if rebase and action != "reset":
            raise InvalidControl(f"rebase goes with reset, not {action}")
        if action == "reset":
            self._check_reset(reason, actor, at, rebase=rebase)
        holds, refusal = holds_after_control(action, self._state, dict(self._holds))
        if refusal is not None:
            raise InvalidControl(f"account {self.account_id}: {refusal}")
        if holds is None:
            return
        state = most_severe(list(holds.values()))
        if state == self._state and holds == self._holds:
            return
        self._change_state(state, f"{action}: {reason}" if reason else action, actor, at, holds)


def _request_dict(request: OrderRequest) -> dict[str, Any]:
    return {
        "symbol": request.symbol,
        "side": request.side,
        "volume": request.volume,
        "price": request.price,
        "sl": request.sl,
        "tp": request.tp,
        "client_order_id": request.client_order_id,
    }


def _market_dict(market: MarketEvidence | None) -> dict[str, Any] | None:
    if market is None:
        return None
    recorded: dict[str, Any] = {
        "symbol": market.symbol,
        "bid": market.bid,
        "ask": market.ask,
        "tick_time": market.tick_time,
    }
    if market.previous_bid is not None:  # only where read: older decisions replay as recorded
        recorded.update(
            previous_bid=market.previous_bid,
            previous_ask=market.previous_ask,
            previous_time=market.previous_time,
        )
    return recorded
