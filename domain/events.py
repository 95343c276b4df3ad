"""The decisions of `AccountRisk`, named in the past tense, and how each one evolves its state.

Every body carries `account_id` and `seq`, the stream sequence of the fact (or, for pre-trade
and control, the last fact decided) that caused it; the timestamp is that fact's time. Bodies
hold only JSON-transcodable values. `apply` copies what it keeps, so state never aliases an
event's dicts.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from eventsourcing.domain import Aggregate

from domain.trading_state import TradingState

if TYPE_CHECKING:
    from domain.account import AccountRisk

AnchorSource = Literal["recorded", "reconstructed", "estimated", "rebased"]
"""Where a day's anchor comes from: the last values recorded at or before the reset, the
agent's rebuild from deal history, (first day only) the first snapshot seen, or an
operator's `reset --rebase` (DayRebased)."""
MAX_BREACH_HISTORY = 20
"""Breaches kept in state for `summary()`; all are in the log anyway."""
SCHEDULE_HOLD = "schedule"
"""The hold of the time rules: REDUCING, released by itself when the schedule reopens."""
_LIQUIDATION_HOLDS: dict[str, TradingState] = {SCHEDULE_HOLD: "REDUCING"}
"""What a liquidation under a rule holds (every other rule: HALTED)."""


class RiskEvent(Aggregate.Event):
    account_id: str
    seq: int

    def apply(self, aggregate: AccountRisk) -> None:
        """Most decisions only record; those that change state override this."""


class AccountRegistered(RiskEvent, Aggregate.Created):
    rules: dict[str, Any]

    def apply(self, aggregate: AccountRisk) -> None:
        aggregate._init_state(self.account_id, self.rules)


class LimitsChanged(RiskEvent):
    """New rules in force; `actor` who reloaded them (left out when the config applied at
    start, so decisions recorded before reloads existed replay unchanged)."""

    rules: dict[str, Any]
    actor: str | None = None

    def __post_init__(self) -> None:
        if self.actor is None:
            object.__delattr__(self, "actor")

    def apply(self, aggregate: AccountRisk) -> None:
        aggregate._set_rules(self.rules)


class AccountStateRecorded(RiskEvent):
    """The balance changed, or equity moved by the recording step, since last recorded."""

    balance: Decimal
    equity: Decimal
    margin: Decimal
    margin_free: Decimal
    currency: str

    def apply(self, aggregate: AccountRisk) -> None:
        aggregate._balance = self.balance
        aggregate._equity = self.equity
        aggregate._margin = self.margin
        aggregate._margin_free = self.margin_free
        aggregate._currency = self.currency
        aggregate._observed_at = self.timestamp
        aggregate._observed_seq = self.seq


class TradingDayStarted(RiskEvent):
    day: date
    start: datetime
    end: datetime
    initial_capital: Decimal
    anchor: Decimal
    anchor_balance: Decimal
    anchor_equity: Decimal
    daily_floor: Decimal | None
    max_floor: Decimal | None
    anchor_source: AnchorSource = "recorded"

    def apply(self, aggregate: AccountRisk) -> None:
        aggregate._start_day(self)


class DayRebased(RiskEvent):
    """An operator's `reset --rebase`: the day's anchor is now the balance, by `actor`.

    It departs from the firm's daily floor on purpose, and says who did it and why.
    """

    anchor: Decimal
    balance: Decimal
    equity: Decimal
    previous_anchor: Decimal | None
    daily_floor: Decimal | None
    actor: str
    reason: str

    def apply(self, aggregate: AccountRisk) -> None:
        aggregate._rebase_day(self)


class FeedStale(RiskEvent):
    """No snapshot since `last_snapshot` while positions are open; `holds` what the action holds."""

    last_snapshot: datetime | None
    stale_after_seconds: float
    positions: int
    action: str
    holds: TradingState | None

    def apply(self, aggregate: AccountRisk) -> None:
        aggregate._feed_stale = True
        if self.holds is not None:
            aggregate._holds["feed"] = self.holds


class FeedRestored(RiskEvent):
    """A snapshot again after `FeedStale`; the feed's hold (if any) is released."""

    stale_since: datetime | None

    def apply(self, aggregate: AccountRisk) -> None:
        aggregate._feed_stale = False
        aggregate._holds.pop("feed", None)


class EndOfDayBalanceRecorded(RiskEvent):
    """The closing balance of `day`; `high` is the highest so far (trailing_eod)."""

    day: date
    balance: Decimal
    high: Decimal
    max_floor: Decimal | None

    def apply(self, aggregate: AccountRisk) -> None:
        aggregate._high = self.high
        aggregate._refloor()


class PeakEquityRaised(RiskEvent):
    """The trailing peak rose to `peak`; `run` is the confirming run it keeps counting on."""

    peak: Decimal
    max_floor: Decimal | None
    run: tuple[Decimal, ...] = ()

    def apply(self, aggregate: AccountRisk) -> None:
        aggregate._high = self.peak
        aggregate._peak_run = tuple(self.run)
        aggregate._refloor()


class PeakConfirmationCounted(RiskEvent):
    """Consecutive snapshots above the trailing `peak` so far (empty `run`: the run ended)."""

    run: tuple[Decimal, ...]
    value: Decimal
    peak: Decimal

    def apply(self, aggregate: AccountRisk) -> None:
        aggregate._peak_run = tuple(self.run)


class BreachConfirmationCounted(RiskEvent):
    """Consecutive snapshots beyond `rule`'s floor so far (0: the run ended)."""

    rule: str
    count: int
    value: Decimal
    floor: Decimal

    def apply(self, aggregate: AccountRisk) -> None:
        aggregate._rule_state[self.rule]["count"] = self.count


class DrawdownWarning(RiskEvent):
    rule: str
    value: Decimal
    warning_level: Decimal
    floor: Decimal

    def apply(self, aggregate: AccountRisk) -> None:
        aggregate._rule_state[self.rule]["warned"] = True


class DrawdownRecovered(RiskEvent):
    """Back above the warning level (`recovered_from` warning) or the floor (breach)."""

    rule: str
    recovered_from: str
    value: Decimal
    floor: Decimal
    warned: bool

    def apply(self, aggregate: AccountRisk) -> None:
        state = aggregate._rule_state[self.rule]
        state["warned"] = self.warned
        state["breached"] = False


class DrawdownBreached(RiskEvent):
    """`value` (equity) broke `floor`; `limit` is the loss budget, `anchor` its reference."""

    rule: str
    limit: Decimal
    floor: Decimal
    value: Decimal
    anchor: Decimal
    breach_when: str
    action: str
    holds: TradingState | None
    """The trading state this breach holds the account in until released, if any."""

    def apply(self, aggregate: AccountRisk) -> None:
        state = aggregate._rule_state[self.rule]
        state.update(breached=True, warned=True, count=0)
        if self.holds is not None:
            aggregate._holds[self.rule] = self.holds
        record = {
            "rule": self.rule,
            "time": self.timestamp,
            "seq": self.seq,
            "value": self.value,
            "floor": self.floor,
            "action": self.action,
        }
        aggregate._breaches = [*aggregate._breaches, record][-MAX_BREACH_HISTORY:]


class LiquidationPending(RiskEvent):
    rule: str
    grace_end: datetime
    reason: str

    def apply(self, aggregate: AccountRisk) -> None:
        aggregate._pending = {
            "rule": self.rule,
            "grace_end": self.grace_end,
            "since": self.timestamp,
            "reason": self.reason,
        }


class LiquidationCancelled(RiskEvent):
    """Recovered in the grace; `grace_used` is the day's grace spent so far (seconds).

    A breach later that day waits only the grace left: the timer resumes, it never restarts.
    """

    rule: str
    value: Decimal
    floor: Decimal | None
    grace_used: float = 0.0

    def apply(self, aggregate: AccountRisk) -> None:
        aggregate._pending = None
        used = dict(getattr(aggregate, "_grace_used", {}))
        used[self.rule] = self.grace_used
        aggregate._grace_used = used


class LiquidationOrdered(RiskEvent):
    """Close everything: the engine sends CloseAll with `command_id`."""

    command_id: str
    rule: str
    identifiers: tuple[int, ...]
    tickets: tuple[int, ...]
    reason: str

    def apply(self, aggregate: AccountRisk) -> None:
        aggregate._pending = None
        aggregate._holds[self.rule] = _LIQUIDATION_HOLDS.get(self.rule, "HALTED")
        aggregate._commands[self.command_id] = {
            "kind": "close_all",
            "reason": self.reason,
            "rule": self.rule,
            "tickets": list(self.tickets),
            "seq": self.seq,
        }


class PositionTracked(RiskEvent):
    position: dict[str, Any]

    def apply(self, aggregate: AccountRisk) -> None:
        aggregate._positions[str(self.position["identifier"])] = dict(self.position)


class PositionUpdated(RiskEvent):
    position: dict[str, Any]

    def apply(self, aggregate: AccountRisk) -> None:
        key = str(self.position["identifier"])
        closing = aggregate._positions[key].get("closing")
        aggregate._positions[key] = {**self.position, "closing": closing}


class PositionReleased(RiskEvent):
    identifier: int
    ticket: int
    symbol: str
    realized: Decimal
    close_price: Decimal
    deal_reason: str

    def apply(self, aggregate: AccountRisk) -> None:
        del aggregate._positions[str(self.identifier)]


class PositionLimitViolated(RiskEvent):
    rule: str
    identifier: int
    ticket: int
    symbol: str
    value: str
    limit: str
    action: str
    holds: TradingState | None

    def apply(self, aggregate: AccountRisk) -> None:
        if self.holds is not None:
            held = aggregate._holds.get("position_limits")
            if held != "HALTED":
                aggregate._holds["position_limits"] = self.holds


class PositionCloseOrdered(RiskEvent):
    """Close one position: the engine sends ClosePosition with `command_id`."""

    command_id: str
    ticket: int
    identifier: int
    volume: Decimal
    reason: str

    def apply(self, aggregate: AccountRisk) -> None:
        key = str(self.identifier)
        aggregate._positions[key] = {**aggregate._positions[key], "closing": self.command_id}
        aggregate._commands[self.command_id] = {
            "kind": "close_position",
            "ticket": self.ticket,
            "identifier": self.identifier,
            "volume": self.volume,
            "reason": self.reason,
            "seq": self.seq,
        }


class TradingStateChanged(RiskEvent):
    """The engine sends SetTradingState with `command_id`; `holds` is what keeps it there."""

    state: TradingState
    previous: TradingState
    reason: str
    actor: str
    command_id: str
    holds: dict[str, TradingState]

    def apply(self, aggregate: AccountRisk) -> None:
        aggregate._state = self.state
        aggregate._state_reason = self.reason
        aggregate._state_actor = self.actor
        aggregate._state_since = self.timestamp
        aggregate._holds = dict(self.holds)
        aggregate._commands[self.command_id] = {
            "kind": "set_trading_state",
            "state": self.state,
            "reason": self.reason,
            "seq": self.seq,
        }


class CommandAnswered(RiskEvent):
    command_id: str
    executed: bool
    detail: str

    def apply(self, aggregate: AccountRisk) -> None:
        aggregate._commands.pop(self.command_id, None)


class OrderApproved(RiskEvent):
    request: dict[str, Any]
    reasons: tuple[str, ...]
    market: dict[str, Any] | None
    limits: dict[str, Any]
    trading_state: str


class OrderDenied(RiskEvent):
    request: dict[str, Any]
    reasons: tuple[str, ...]
    market: dict[str, Any] | None
    limits: dict[str, Any]
    trading_state: str


def _schedule_state(aggregate: AccountRisk, event: RiskEvent) -> dict[str, Any]:
    """The time rules' state: instants warned and flattened, the window, the last time."""
    state: dict[str, Any] = aggregate.__dict__.setdefault(
        "_schedule", {"warned": {}, "flattened": {}, "closed": None, "at": None}
    )
    state["at"] = event.timestamp
    return state


class ScheduleWarning(RiskEvent):
    """`rule` (flat_by, no_weekend_holding) flattens the account at `due`: an alert
    (`positions`: how many are open now, 0 when there is nothing to close)."""

    rule: str
    label: str
    due: datetime
    warn_before_minutes: int
    positions: int

    def apply(self, aggregate: AccountRisk) -> None:
        _schedule_state(aggregate, self)["warned"][self.rule] = self.due


class ScheduleFlattened(RiskEvent):
    """`rule`'s instant `due` passed: positions are closed (a LiquidationOrdered follows when
    any are open) and the account is held REDUCING until `reopens`."""

    rule: str
    label: str
    due: datetime
    reopens: datetime
    positions: int

    def apply(self, aggregate: AccountRisk) -> None:
        state = _schedule_state(aggregate, self)
        state["warned"][self.rule] = self.due
        state["flattened"][self.rule] = self.due
        aggregate._holds[SCHEDULE_HOLD] = "REDUCING"


class ScheduleReleased(RiskEvent):
    """The schedule reopened (next trading day or Monday): its hold is released."""

    reason: str

    def apply(self, aggregate: AccountRisk) -> None:
        _schedule_state(aggregate, self)
        aggregate._holds.pop(SCHEDULE_HOLD, None)


class TradingWindowChanged(RiskEvent):
    """Why the schedule refuses opening changed at this fact (`closed` None: open again),
    for alerts and views; pre-trade computes it afresh at its own time."""

    closed: str | None
    previous: str | None

    def apply(self, aggregate: AccountRisk) -> None:
        _schedule_state(aggregate, self)["closed"] = self.closed
