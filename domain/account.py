"""`AccountRisk`: one account's risk state, rebuilt from its decisions, deciding on facts.

Command methods check first (`_check_*`, raising a `RiskError` before anything is recorded),
then record decisions (domain/events.py says how each evolves the state). Rule logic is in
plain functions: domain/drawdown.py, domain/position_limits.py, domain/pretrade.py.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Final
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate
from eventsourcing.domain import Snapshot as LibrarySnapshot
from eventsourcing.utils import get_topic

from domain import events as ev
from domain.drawdown import (
    daily_threshold,
    equity_quantum,
    is_beyond,
    max_threshold,
)
from domain.errors import (
    DuplicatePosition,
    FactOutOfOrder,
    InvalidControl,
    InvalidFact,
    LimitsUnchanged,
    RiskError,
    UnknownPosition,
)
from domain.events import AnchorSource
from domain.inputs import (
    AccountState,
    ClosedPosition,
    FactRef,
    MarketEvidence,
    OrderRequest,
    PositionState,
    PreTradeAnswer,
)
from domain.money import CENT, ZERO
from domain.position_limits import (
    Violation,
    net_volume,
    portfolio_risk,
    violations_on_modify,
    violations_on_open,
)
from domain.pretrade import check_order as pretrade_check
from domain.rules import RiskRules
from domain.summary import summarize
from domain.trading_state import (
    CONTROL_ACTIONS,
    SEVERITY,
    ControlAction,
    TradingState,
    holds_after_control,
    most_severe,
)
from domain.tradingday import trading_day

NAMESPACE: Final = UUID("6f1c1c3e-4d0e-5b8a-9a57-0b7d1e4c2a10")
"""Namespace of `account_risk_id`; never change it (ids in the store derive from it)."""
ABSURD_FACTOR: Final = Decimal(100)
"""Equity further than this many initial capitals from balance is not believed."""
RISK_ACTOR: Final = "risk"
_TRANSIENT: Final = frozenset({"_rules_cache", "_latest_at"})
"""Never persisted: `_latest_at`, the latest snapshot time accepted, is rebuilt on start by
`recall_snapshot` from the facts after the last recorded snapshot."""
_NOT_COMPARED: Final = _TRANSIENT | {"_pending_events"}
_HOLDING: Final[dict[str, TradingState]] = {"reduce": "REDUCING", "halt": "HALTED"}
_RULES: Final = ("daily", "max")


def account_risk_id(account_id: str) -> UUID:
    """The aggregate id of an account: UUID5 of its id in a fixed namespace."""
    return uuid5(NAMESPACE, account_id)


class AccountRisk(Aggregate):
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
        self._thresholds: dict[str, dict[str, Decimal]] = {}
        self._equity_step: Decimal = CENT
        self._rule_state: dict[str, dict[str, Any]] = {
            rule: {"warned": False, "breached": False, "count": 0} for rule in _RULES
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

    def _refloor(self) -> None:
        """Recompute warning levels and floors from the rules and the recorded anchors."""
        rules = self.rules
        self._thresholds = {}
        initial = self._initial
        if initial is None:
            return
        fraction = rules.warning_fraction
        daily = rules.daily_loss
        if daily.enabled and self._anchor is not None:
            th = daily_threshold(daily, initial, self._anchor, fraction)
            self._thresholds["daily"] = {
                "reference": th.reference,
                "floor": th.floor,
                "warn_at": th.warn_at,
            }
        if rules.max_loss.enabled:
            th = max_threshold(rules.max_loss, initial, self._high or initial, fraction)
            self._thresholds["max"] = {
                "reference": th.reference,
                "floor": th.floor,
                "warn_at": th.warn_at,
            }
        reads_equity = daily.enabled and daily.anchor != "balance"
        self._equity_step = CENT if reads_equity else equity_quantum(initial)

    def __eq__(self, other: object) -> bool:
        if type(self) is not type(other):
            return False
        mine = {k: v for k, v in self.__dict__.items() if k not in _NOT_COMPARED}
        theirs = {k: v for k, v in other.__dict__.items() if k not in _NOT_COMPARED}
        return mine == theirs

    __hash__ = None  # type: ignore[assignment]

    # --- read side ------------------------------------------------------------------

    @property
    def rules(self) -> RiskRules:
        """The rules in force, rebuilt from the recorded dict (cached, never persisted)."""
        cached: RiskRules | None = self.__dict__.get("_rules_cache")
        if cached is None:
            cached = RiskRules.from_dict(self._rules_dict)
            self.__dict__["_rules_cache"] = cached
        return cached

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

    # --- limits ---------------------------------------------------------------------

    def change_limits(self, rules: RiskRules, at: FactRef) -> None:
        """Put new rules in force; LimitsUnchanged when they are the recorded ones."""
        data = rules.to_dict()
        if data == self._rules_dict:
            raise LimitsUnchanged(f"account {self.account_id}: limits already in force")
        self._record(ev.LimitsChanged, at, rules=data)

    # --- account snapshots ------------------------------------------------------------

    def observe_account(self, state: AccountState, at: FactRef) -> None:
        """Decide on an account snapshot: trading day, floors, warnings, breaches.

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
        if self._day_end is None or at.time >= self._day_end:
            self._begin_day(state, balance, equity, at)
        if self.rules.max_loss.kind == "trailing_intraday":
            self._follow_peak(equity, at)
        for rule in _RULES:
            if rule in self._thresholds:
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

    def observe_clock(self, at: FactRef) -> None:
        """Time from a fact that is not a snapshot (a heartbeat): is the account data stale?

        No snapshot for `feed.stale_after_seconds` while positions are open records
        FeedStale once and applies `feed.action` (alert, reduce or halt).
        """
        feed = self.rules.feed
        latest = self.latest_snapshot_at
        if getattr(self, "_feed_stale", False) or not self._positions or latest is None:
            return
        if (at.time - latest).total_seconds() <= feed.stale_after_seconds:
            return
        holds = _HOLDING.get(feed.action)
        self._record(
            ev.FeedStale,
            at,
            last_snapshot=latest,
            stale_after_seconds=feed.stale_after_seconds,
            positions=len(self._positions),
            action=feed.action,
            holds=holds,
        )
        if holds is not None:
            self._hold(holds, f"feed stale: no account snapshot since {latest.isoformat()}", at)

    def _restore_feed(self, last_seen: datetime | None, at: FactRef) -> None:
        self._record(ev.FeedRestored, at, stale_since=last_seen)
        target = most_severe(list(self._holds.values()))
        if SEVERITY[target] < SEVERITY[self._state]:
            self._change_state(target, "feed restored", RISK_ACTOR, at)

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
        if min(balance, equity, state.reset_balance or ZERO, state.reset_equity or ZERO) < ZERO:
            raise InvalidFact(
                f"account {self.account_id}: negative balance {balance} or equity {equity}"
            )
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

    def _floor(self, rule: str) -> Decimal | None:
        th = self._thresholds.get(rule)
        return None if th is None else th["floor"]

    def _evaluate(self, rule: str, equity: Decimal, at: FactRef) -> None:
        th = self._thresholds[rule]
        state = self._rule_state[rule]
        rules = self.rules
        breach_when = (rules.daily_loss if rule == "daily" else rules.max_loss).breach_when
        floor, warn_at = th["floor"], th["warn_at"]
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
        th = self._thresholds[rule]
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
                    warning_level=th["warn_at"],
                    floor=th["floor"],
                )
            self._record(
                ev.BreachConfirmationCounted,
                at,
                rule=rule,
                count=count,
                value=equity,
                floor=th["floor"],
            )
            return
        limit = rules.daily_loss if rule == "daily" else rules.max_loss
        action = limit.action
        grace = rules.liquidation_grace_seconds
        holds = _HOLDING.get(action)
        if action == "liquidate" and grace - self._grace_spent(rule) <= 0:
            holds = "HALTED"
        self._record(
            ev.DrawdownBreached,
            at,
            rule=rule,
            limit=th["reference"] - th["floor"],
            floor=th["floor"],
            value=equity,
            anchor=th["reference"],
            breach_when=limit.breach_when,
            action=action,
            holds=holds,
        )
        sign = "<" if limit.breach_when == "below" else "<="
        reason = f"{rule} loss: equity {equity} {sign} floor {th['floor']}"
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

    # --- actions ----------------------------------------------------------------------

    def _closing_all(self) -> bool:
        """A CloseAll is ordered and not yet answered (a second one would close nothing more)."""
        return any(c["kind"] == "close_all" for c in self._commands.values())

    def _liquidate(self, rule: str, reason: str, at: FactRef) -> None:
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
        self._hold("HALTED", reason, at)

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

    # --- positions --------------------------------------------------------------------

    def observe_opened(self, position: PositionState, at: FactRef) -> None:
        """Track a new position and enforce the position limits on it."""
        self._check_position(position)
        key = str(position.identifier)
        if key in self._positions:
            raise DuplicatePosition(
                f"account {self.account_id}: position {position.identifier} is already open"
            )
        net_before = net_volume(self._positions.values(), position.symbol)
        state = self._state
        self._record(ev.PositionTracked, at, position=_position_dict(position, at))
        tracked = self._positions[key]
        found = violations_on_open(self.rules.position_limits, self._positions, tracked)
        found.extend(self._portfolio_violations())
        self._enforce(found, tracked, at)
        self._enforce_state(state, tracked, net_before, at)

    def observe_modified(self, position: PositionState, at: FactRef) -> None:
        """Follow a changed position (volume, SL, TP) and enforce limits it newly breaks."""
        self._check_position(position)
        old = self._tracked(position.identifier)
        new = _position_dict(position, at)
        if all(old[k] == new[k] for k in ("volume", "sl", "tp", "price_open", "symbol", "side")):
            return
        new["opened_seq"] = old["opened_seq"]
        net_before = net_volume(self._positions.values(), position.symbol)
        state = self._state
        self._record(ev.PositionUpdated, at, position=new)
        tracked = self._positions[str(position.identifier)]
        found = violations_on_modify(self.rules.position_limits, self._positions, old, tracked)
        if new["sl"] != old["sl"] or new["volume"] > old["volume"]:
            found.extend(self._portfolio_violations())
        self._enforce(found, tracked, at)
        if new["volume"] > old["volume"] or new["side"] != old["side"]:
            self._enforce_state(state, tracked, net_before, at)

    def _enforce_state(
        self, state: TradingState, position: dict[str, Any], net_before: Decimal, at: FactRef
    ) -> None:
        """A real terminal ignores mtq's trading state: close what it let through at once.

        `state` is the one the position appeared in: HALTED closes any position that appears
        or grows; REDUCING closes one that made the symbol's net exposure larger.
        """
        if position.get("closing") is not None or state == "ACTIVE":
            return
        net_after = net_volume(self._positions.values(), position["symbol"])
        if state == "HALTED":
            reason = "opened_while_halted"
        elif abs(net_after) > abs(net_before):
            reason = "increases_exposure_while_reducing"
        else:
            return
        self._record(
            ev.PositionCloseOrdered,
            at,
            command_id=self._next_command_id(),
            ticket=position["ticket"],
            identifier=position["identifier"],
            volume=position["volume"],
            reason=reason,
        )

    def observe_closed(self, closed: ClosedPosition, at: FactRef) -> None:
        """Stop tracking a closed position."""
        position = closed.position
        self._tracked(position.identifier)
        for name, value in (("close_price", closed.close_price), ("realized", closed.realized)):
            if not value.is_finite():
                raise InvalidFact(f"account {self.account_id}: {name} {value} is not finite")
        self._record(
            ev.PositionReleased,
            at,
            identifier=position.identifier,
            ticket=position.ticket,
            symbol=position.symbol,
            realized=closed.realized.quantize(CENT),
            close_price=closed.close_price,
            deal_reason=closed.deal_reason,
        )

    def _tracked(self, identifier: int) -> dict[str, Any]:
        found = self._positions.get(str(identifier))
        if found is None:
            raise UnknownPosition(f"account {self.account_id}: position {identifier} is not open")
        return found

    def _check_position(self, position: PositionState) -> None:
        for name in ("volume", "price_open", "sl", "tp", "profit", "swap"):
            value: Decimal = getattr(position, name)
            if not value.is_finite():
                raise InvalidFact(
                    f"account {self.account_id}: position {name} {value} is not finite"
                )
        if (
            position.volume <= ZERO
            or position.price_open < ZERO
            or position.sl < ZERO
            or position.tp < ZERO
        ):
            raise InvalidFact(
                f"account {self.account_id}: position {position.identifier} has a non-positive "
                f"volume {position.volume} or a negative price"
            )
        if position.side not in ("buy", "sell"):
            raise InvalidFact(f"account {self.account_id}: side {position.side!r}")

    def _portfolio_violations(self) -> list[Violation]:
        rules = self.rules
        equity = self._equity
        if equity is None:
            return []
        risk = portfolio_risk(rules, self._positions.values())
        limit = (equity * rules.portfolio_risk_percent / 100).quantize(CENT)
        if risk <= limit:
            return []
        return [
            Violation(
                "portfolio_risk",
                str(risk),
                f"portfolio_risk_percent {rules.portfolio_risk_percent} of equity "
                f"{equity} = {limit}",
                rules.portfolio_action,
            )
        ]

    def _enforce(self, found: list[Violation], position: dict[str, Any], at: FactRef) -> None:
        if not found:
            return
        for v in found:
            self._record(
                ev.PositionLimitViolated,
                at,
                rule=v.rule,
                identifier=position["identifier"],
                ticket=position["ticket"],
                symbol=position["symbol"],
                value=v.value,
                limit=v.limit,
                action=v.action,
                holds=_HOLDING.get(v.action),
            )
        actions = {v.action for v in found}
        reason = "; ".join(v.reason for v in found)
        if "liquidate" in actions:
            self._liquidate("position_limits", reason, at)
            return
        if "close_position" in actions and position.get("closing") is None:
            self._record(
                ev.PositionCloseOrdered,
                at,
                command_id=self._next_command_id(),
                ticket=position["ticket"],
                identifier=position["identifier"],
                volume=position["volume"],
                reason=reason,
            )
        held = [_HOLDING[a] for a in actions if a in _HOLDING]
        if held:
            self._hold(most_severe(held), reason, at)

    # --- commands answered, pre-trade, control ----------------------------------------

    def observe_order_result(
        self, command_id: str, executed: bool, detail: str, at: FactRef
    ) -> None:
        """Record the agent's answer to one of our commands; unknown ids record nothing."""
        if command_id in self._commands:
            self._record(
                ev.CommandAnswered, at, command_id=command_id, executed=executed, detail=detail
            )

    def check_order(
        self, request: OrderRequest, market: MarketEvidence | None, at: FactRef
    ) -> PreTradeAnswer:
        """Answer a pre-trade check and record it (OrderApproved or OrderDenied)."""
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

    def _check_reset(self, reason: str, actor: str, at: FactRef, *, rebase: bool) -> None:
        equity, balance = self._equity, self._balance
        if equity is None or balance is None:
            return
        rules = self.rules
        max_th = self._thresholds.get("max")
        if max_th is not None and is_beyond(equity, max_th["floor"], rules.max_loss.breach_when):
            raise InvalidControl(
                f"account {self.account_id}: cannot reset: equity {equity} is beyond the max "
                f"loss floor {max_th['floor']} (no rebase moves it; change initial_capital)"
            )
        daily_th = self._thresholds.get("daily")
        beyond_daily = daily_th is not None and is_beyond(
            equity, daily_th["floor"], rules.daily_loss.breach_when
        )
        if beyond_daily and not rebase:
            assert daily_th is not None
            raise InvalidControl(
                f"account {self.account_id}: cannot reset: equity {equity} is beyond the daily "
                f"floor {daily_th['floor']}; reset --rebase anchors the day at the balance"
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


def _position_dict(position: PositionState, at: FactRef) -> dict[str, Any]:
    return {
        "identifier": position.identifier,
        "ticket": position.ticket,
        "symbol": position.symbol,
        "side": position.side,
        "volume": position.volume,
        "price_open": position.price_open,
        "sl": position.sl,
        "tp": position.tp,
        "profit": position.profit,
        "swap": position.swap,
        "magic": position.magic,
        "comment": position.comment,
        "reason": position.reason,
        "opened_seq": at.seq,
        "closing": None,
    }


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
