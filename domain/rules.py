"""The risk rules of one account as frozen dataclasses, with a plain-JSON dict form.

The dict form (`RiskRules.to_dict`) is what decisions record: plain JSON types only
(Decimals as strings, tuples as lists), keys in field order, and `from_dict` its exact inverse.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from typing import Any, Literal

from domain.group import GroupRules
from domain.money import quantity

RuleAction = Literal["alert", "reduce", "halt", "liquidate"]
PositionAction = Literal["alert", "reduce", "halt", "liquidate", "close_position"]
DailyAnchor = Literal["balance", "equity", "max_balance_equity"]
DailyBasis = Literal["initial", "anchor"]
BreachWhen = Literal["below", "at_or_below"]
Reopen = Literal["reset", "next_day"]
MaxLossKind = Literal["static", "trailing_eod", "trailing_intraday"]
MaxLossBasis = Literal["initial", "peak"]
FeedAction = Literal["alert", "reduce", "halt"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class SymbolSpec:
    """What pre-trade needs of a symbol: contract, tick value and market-guard limits."""

    name: str
    digits: int = 5
    point: Decimal = Decimal("0.00001")
    contract_size: Decimal = Decimal(100000)
    tick_value: Decimal = Decimal(1)
    tick_size: Decimal = Decimal("0.00001")
    max_spread_pips: Decimal | None = None
    max_gap_pips: Decimal | None = None
    stale_feed_seconds: float | None = None

    @property
    def pip(self) -> Decimal:
        """Ten points for 5- and 3-digit quotes, else one point."""
        return self.point * 10 if self.digits in (3, 5) else self.point


@dataclass(frozen=True)
class DailyLossRule:
    """Equity below the day's anchor minus the limit is a breach."""

    enabled: bool = True
    limit_percent: Decimal = Decimal(5)
    anchor: DailyAnchor = "balance"
    reset_time: str = "00:00"
    timezone: str = "UTC"
    basis: DailyBasis = "initial"
    breach_when: BreachWhen = "below"
    reopen: Reopen = "reset"
    action: RuleAction = "liquidate"


@dataclass(frozen=True)
class MaxLossRule:
    """Equity below a static or trailing floor is a breach."""

    enabled: bool = True
    kind: MaxLossKind = "static"
    limit_percent: Decimal = Decimal(10)
    basis: MaxLossBasis = "initial"
    lock_at_initial: bool = False
    lock_offset: Decimal = Decimal(0)
    """With `lock_at_initial`, a trailing floor stops at initial capital plus this."""
    breach_when: BreachWhen = "below"
    action: RuleAction = "liquidate"


@dataclass(frozen=True)
class FeedRule:
    """No account snapshot for `stale_after_seconds` while positions are open is stale."""

    stale_after_seconds: float = 30.0
    action: FeedAction = "alert"
    max_clock_skew_seconds: float = 120.0
    """A fact stamped further than this ahead of the time the bus stored it is refused."""


@dataclass(frozen=True)
class FlatBy:
    """Flat at local `time` in `timezone` on `days`; closed until the next trading day."""

    time: str
    timezone: str = "UTC"
    days: tuple[Weekday, ...] = WEEKDAYS[:5]
    warn_before_minutes: int = 10


@dataclass(frozen=True)
class AllowedHours:
    """Opening is allowed from `start` to `end` (local, `end` excluded) on `days`."""

    start: str
    end: str
    timezone: str = "UTC"
    days: tuple[Weekday, ...] = WEEKDAYS


@dataclass(frozen=True)
class WeekendClose:
    """Flat before Friday's close (local `friday_close`); closed until Monday 00:00 local."""

    friday_close: str
    timezone: str = "UTC"
    warn_before_minutes: int = 10


@dataclass(frozen=True)
class Schedule:
    """Time rules; nothing scheduled by default. `holidays`: ISO dates, closed all day."""

    flat_by: FlatBy | None = None
    allowed_hours: AllowedHours | None = None
    no_weekend_holding: WeekendClose | None = None
    holidays: tuple[str, ...] = ()


@dataclass(frozen=True)
class Objectives:
    """A challenge's objectives; none by default (a funded account has none).

    `profit_target_percent` of initial capital, reached on the balance with every position
    closed; `min_trading_days` trading days (of the daily-loss calendar) with a position
    opened; `max_calendar_days` from the first trading day; `best_day_percent`: the best
    day's closed profit at most this share of the total profit.
    """

    profit_target_percent: Decimal | None = None
    min_trading_days: int | None = None
    max_calendar_days: int | None = None
    best_day_percent: Decimal | None = None

    @property
    def enabled(self) -> bool:
        return self != Objectives()


@dataclass(frozen=True)
class NewsBlackout:
    """No opening or closing of a targeted symbol from `before_minutes` before a calendar
    event of at least `impact` to `after_minutes` after it (domain/news.py)."""

    impact: Literal["low", "medium", "high"] = "high"
    before_minutes: int = 2
    after_minutes: int = 2
    instruments: Literal["by_currency", "all"] = "by_currency"
    sl_tp_warn_pips: Decimal | None = None
    """At a window's opening, alert on each targeted position whose SL/TP is this close."""


@dataclass(frozen=True)
class PositionLimits:
    """Limits on what may be open at once; `action` when one is broken."""

    max_positions: int = 10
    max_concurrent_trades: int = 10
    max_lots_per_symbol: Decimal | None = None
    max_total_lots: Decimal | None = None
    allowed_symbols: tuple[str, ...] | None = None
    require_stop_loss: bool = False
    action: PositionAction = "close_position"
    missing_stop_loss_action: PositionAction = "alert"


@dataclass(frozen=True)
class RiskRules:
    """Every risk rule of one account, as the domain applies them."""

    initial_capital: Decimal | None = None
    daily_loss: DailyLossRule = field(default_factory=DailyLossRule)
    max_loss: MaxLossRule = field(default_factory=MaxLossRule)
    position_limits: PositionLimits = field(default_factory=PositionLimits)
    risk_percent: Decimal = Decimal(1)
    portfolio_risk_percent: Decimal = Decimal(5)
    portfolio_action: RuleAction = "reduce"
    warning_fraction: Decimal = Decimal("0.8")
    breach_confirmations: int = 1
    liquidation_grace_seconds: float = 0.0
    symbols: tuple[SymbolSpec, ...] = ()
    preset: str | None = None
    peak_confirmations: int | None = None
    """Consecutive snapshots above a trailing peak before it rises (None: as breaches)."""
    recover_margin: Decimal = Decimal("0.1")
    """A pending liquidation is cancelled only above floor + this share of floor..warning."""
    feed: FeedRule = field(default_factory=FeedRule)
    schedule: Schedule = field(default_factory=Schedule)
    objectives: Objectives = field(default_factory=Objectives)
    news_blackout: NewsBlackout | None = None
    group: GroupRules | None = None
    """The account group it belongs to (domain/group.py), recorded with its rules."""

    @property
    def peak_runs(self) -> int:
        """Snapshots a trailing peak must hold before it is raised."""
        return self.peak_confirmations or self.breach_confirmations

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON form: Decimals as strings, tuples as lists, keys in field order.

        An empty schedule, no objectives and no news_blackout are left out, so rules
        recorded before they
        existed compare (and replay) unchanged.
        """
        result: dict[str, Any] = _to_plain(self)
        if self.schedule == Schedule():
            del result["schedule"]
        if not self.objectives.enabled:
            del result["objectives"]
        if self.news_blackout is None:
            del result["news_blackout"]
        if self.group is None:
            del result["group"]
        return result

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RiskRules:
        """Rebuild from `to_dict` output."""
        rules: RiskRules = _from_plain(cls, data)
        return rules

    def symbol(self, name: str) -> SymbolSpec | None:
        """The spec of symbol `name`, None when the account does not list it."""
        for spec in self.symbols:
            if spec.name == name:
                return spec
        return None


def _to_plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_to_plain(v) for v in value]
    return value


@cache
def _hints(cls: type[Any]) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _from_plain(kind: Any, value: Any) -> Any:  # noqa: PLR0911 - one return per type kind
    if value is None:
        return None
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        hints = _hints(kind)
        return kind(**{k: _from_plain(hints[k], v) for k, v in value.items()})
    origin = typing.get_origin(kind)
    args = typing.get_args(kind)
    if kind is Decimal:
        return quantity(value)
    if kind is float:
        return float(value)
    if origin is tuple:
        return tuple(_from_plain(args[0], v) for v in value)
    if args and origin is not Literal:  # X | None
        inner = next(a for a in args if a is not type(None))
        return _from_plain(inner, value)
    return value
