"""Risk settings of one account and reconciliation tolerances (docs/architecture.md §4, §5)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from config.fields import Fraction, Percent, PercentOrZero, SymbolName, TimeOfDay, TimeZoneName
from config.fields import between as _between

RuleAction = Literal["alert", "reduce", "halt", "liquidate"]
PositionAction = Literal["alert", "reduce", "halt", "liquidate", "close_position"]
DailyAnchor = Literal["balance", "equity", "max_balance_equity"]
DailyBasis = Literal["initial", "anchor"]
MaxLossKind = Literal["static", "trailing_eod", "trailing_intraday"]
MaxLossBasis = Literal["initial", "peak"]
BreachWhen = Literal["below", "at_or_below"]
Reopen = Literal["reset", "next_day"]

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Days = Annotated[tuple[Weekday, ...], Field(min_length=1)]
WarnMinutes = Annotated[int, Field(ge=0, le=1440)]
PresetName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$")]
RiskPercent = Annotated[float, _between(0.1, 10)]
PortfolioRiskPercent = Annotated[float, _between(1, 20)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DailyLossConfig(_Frozen):
    """Daily loss limit, prop-firm style: equity below anchor minus limit is a breach."""

    enabled: bool = True
    limit_percent: Percent = 5.0
    anchor: DailyAnchor = "balance"
    reset_time: TimeOfDay = "00:00"
    timezone: TimeZoneName = "UTC"
    basis: DailyBasis = "initial"
    """Limit in percent of initial capital (`initial`) or of the day's anchor (`anchor`)."""
    breach_when: BreachWhen = "below"
    """Breach when equity is below the floor, or already when it reaches it (`at_or_below`)."""
    reopen: Reopen = "reset"
    """After a breach: wait for an operator's reset, or reopen on the next trading day."""


class MaxLossConfig(_Frozen):
    """Overall loss limit: static from initial capital or trailing from a peak."""

    enabled: bool = True
    kind: MaxLossKind = "static"
    limit_percent: Percent = 10.0
    basis: MaxLossBasis = "initial"
    """Trailing kinds: the loss amount is limit% of initial capital or of the peak."""
    lock_at_initial: bool = False
    """Trailing floors stop rising once they reach initial capital (plus `lock_offset`)."""
    lock_offset: Annotated[float, Field(ge=0)] = 0.0
    """Money above initial capital where a locked trailing floor stops (Apex: 100)."""
    breach_when: BreachWhen = "below"


class RiskActionsConfig(_Frozen):
    """What happens when each rule is broken."""

    position_limit: PositionAction = "close_position"
    missing_stop_loss: PositionAction = "alert"
    portfolio_risk: RuleAction = "reduce"
    daily_loss: RuleAction = "liquidate"
    max_loss: RuleAction = "liquidate"


class FeedConfig(_Frozen):
    """Stale account data: no snapshot for `stale_after_seconds` while positions are open."""

    stale_after_seconds: Annotated[float, Field(gt=0)] = 30.0
    action: Literal["alert", "reduce", "halt"] = "alert"
    max_clock_skew_seconds: Annotated[float, Field(gt=0, le=86_400)] = 120.0
    """A fact stamped more than this ahead of the moment JetStream stored it is
    dead-lettered: an agent clock running ahead would start the trading day early."""


def _unique_days(days: tuple[Weekday, ...], what: str) -> None:
    if len(set(days)) != len(days):
        raise ValueError(f"{what}.days lists a weekday twice: {', '.join(days)}")


class FlatByConfig(_Frozen):
    """Flat at local `time` on `days` (Topstep: 15:10 America/Chicago, Monday to Friday).

    From `warn_before_minutes` before, an alert; at the instant positions are closed and the
    account is REDUCING until the next trading day starts (`daily_loss.reset_time`)."""

    time: TimeOfDay
    timezone: TimeZoneName
    days: Days = WEEKDAYS[:5]
    warn_before_minutes: WarnMinutes = 10

    @model_validator(mode="after")
    def _check(self) -> Self:
        _unique_days(self.days, "flat_by")
        return self


class AllowedHoursConfig(_Frozen):
    """Opening only from `start` to `end` local time (`end` excluded; over midnight when
    `start` is later than `end`) on `days`; reducing is always allowed."""

    start: TimeOfDay
    end: TimeOfDay
    timezone: TimeZoneName
    days: Days = WEEKDAYS

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.start == self.end:
            raise ValueError(f"allowed_hours start and end are both {self.start}: an empty window")
        _unique_days(self.days, "allowed_hours")
        return self


class WeekendConfig(_Frozen):
    """Flat before Friday's local `friday_close` (the server's); closed until Monday 00:00."""

    friday_close: TimeOfDay
    timezone: TimeZoneName = "UTC"
    warn_before_minutes: WarnMinutes = 10


class ScheduleConfig(_Frozen):
    """Time rules; nothing scheduled by default. `holidays`: dates closed all day in the
    zones of flat_by and allowed_hours (no flat_by on them)."""

    flat_by: FlatByConfig | None = None
    allowed_hours: AllowedHoursConfig | None = None
    no_weekend_holding: WeekendConfig | None = None
    holidays: tuple[date, ...] = ()

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.holidays and self.flat_by is None and self.allowed_hours is None:
            raise ValueError("holidays need flat_by or allowed_hours (their zone dates them)")
        return self


class ObjectivesConfig(_Frozen):
    """A challenge's objectives (none by default). Progress is recorded as decisions:
    ObjectiveMet / ObjectiveMissed, then ChallengePassed or ChallengeFailed."""

    profit_target_percent: Annotated[float, Field(gt=0, le=1000)] | None = None
    """Of initial capital, on the balance with every position closed."""
    min_trading_days: Annotated[int, Field(ge=1, le=3660)] | None = None
    """Trading days (the daily-loss calendar's) on which a position was opened."""
    max_calendar_days: Annotated[int, Field(ge=1, le=3660)] | None = None
    """From the first trading day; passing the last one unpassed fails the challenge."""
    best_day_percent: Annotated[float, Field(gt=0, le=100)] | None = None
    """The best day's closed profit at most this share of the total profit."""


class NewsBlackoutConfig(_Frozen):
    """No opening or closing of a targeted symbol from `before_minutes` before to
    `after_minutes` after a news event of at least `impact` (the calendar: `news.calendar`
    or `mtq news import`). `by_currency`: a symbol whose base or quote currency is the
    event's (XAUUSD: XAU and USD); `all`: every symbol. `sl_tp_warn_pips`: as a window
    opens, alert on each targeted position whose SL or TP is this close."""

    impact: Literal["low", "medium", "high"] = "high"
    before_minutes: Annotated[int, Field(ge=0, le=240)] = 2
    after_minutes: Annotated[int, Field(ge=0, le=240)] = 2
    instruments: Literal["by_currency", "all"] = "by_currency"
    sl_tp_warn_pips: Annotated[float, Field(gt=0)] | None = None


class ReconciliationConfig(_Frozen):
    """Tolerances for matching intended trades with broker positions (docs/architecture.md §5)."""

    volume_match_percent: PercentOrZero = 5.0
    price_match_pips: Annotated[float, Field(ge=0)] = 2.0
    slippage_pips: Annotated[float, Field(ge=0)] = 5.0
    volume_divergence_percent: PercentOrZero = 10.0
    sltp_divergence_pips: Annotated[float, Field(ge=0)] = 10.0
    fill_window_seconds: Annotated[float, Field(ge=0)] = 10.0
    """An approved order with no broker position after this long is `missing_at_broker`."""


class RiskConfig(_Frozen):
    """Every risk rule of one account."""

    max_positions: Annotated[int, Field(ge=1)] = 10
    max_concurrent_trades: Annotated[int, Field(ge=1)] = 10
    max_lots_per_symbol: Annotated[float, Field(gt=0)] | None = None
    max_total_lots: Annotated[float, Field(gt=0)] | None = None
    allowed_symbols: tuple[SymbolName, ...] | None = None
    """None: any configured symbol."""
    risk_percent: RiskPercent = 1.0
    portfolio_risk_percent: PortfolioRiskPercent = 5.0
    require_stop_loss: bool = False
    daily_loss: DailyLossConfig = DailyLossConfig()
    max_loss: MaxLossConfig = MaxLossConfig()
    warning_fraction: Fraction = 0.8
    breach_confirmations: Annotated[int, Field(ge=1)] = 1
    peak_confirmations: Annotated[int, Field(ge=1)] | None = None
    """Consecutive snapshots above a trailing peak before it is raised (None: as breaches)."""
    recover_margin: Fraction = 0.1
    """Cancel a pending liquidation only above floor + this fraction of floor..warning."""
    feed: FeedConfig = FeedConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    objectives: ObjectivesConfig = ObjectivesConfig()
    news_blackout: NewsBlackoutConfig | None = None
    liquidation_grace_seconds: Annotated[float, Field(ge=0)] = 0.0
    actions: RiskActionsConfig = RiskActionsConfig()
    initial_capital: Annotated[float, Field(gt=0)] | None = None
    """None: the first balance the agent reports."""
    reconciliation: ReconciliationConfig = ReconciliationConfig()
    preset: PresetName | None = None
    """The rule set from config/presets/ these settings were merged over, if any."""

    @model_validator(mode="after")
    def _check_schedule(self) -> Self:
        flat, daily = self.schedule.flat_by, self.daily_loss
        if flat is not None and (flat.time, flat.timezone) == (daily.reset_time, daily.timezone):
            raise ValueError(
                f"schedule.flat_by {flat.time} {flat.timezone} is the daily reset: it would "
                "close the whole trading day"
            )
        return self
