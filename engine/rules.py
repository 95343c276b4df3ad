"""Adapt an account's pydantic config into the domain's frozen rules."""

from __future__ import annotations

from decimal import Decimal

from config.models import AccountConfig, GroupConfig, SymbolConfig
from config.risk_models import NewsBlackoutConfig, ScheduleConfig
from domain.group import GroupRules
from domain.money import money, quantity
from domain.rules import (
    AllowedHours,
    DailyLossRule,
    FeedRule,
    FlatBy,
    MaxLossRule,
    NewsBlackout,
    Objectives,
    PositionLimits,
    RiskRules,
    Schedule,
    SymbolSpec,
    WeekendClose,
)


def rules_for(account: AccountConfig, group: GroupConfig | None = None) -> RiskRules:
    """The `RiskRules` of `account`: capital, loss limits, actions, position limits, symbols,
    and the `group` it is in (config `groups:`)."""
    risk = account.risk
    actions = risk.actions
    daily, max_loss = risk.daily_loss, risk.max_loss
    return RiskRules(
        initial_capital=None if risk.initial_capital is None else money(risk.initial_capital),
        daily_loss=DailyLossRule(
            enabled=daily.enabled,
            limit_percent=quantity(daily.limit_percent),
            anchor=daily.anchor,
            reset_time=daily.reset_time,
            timezone=daily.timezone,
            basis=daily.basis,
            breach_when=daily.breach_when,
            reopen=daily.reopen,
            action=actions.daily_loss,
        ),
        max_loss=MaxLossRule(
            enabled=max_loss.enabled,
            kind=max_loss.kind,
            limit_percent=quantity(max_loss.limit_percent),
            basis=max_loss.basis,
            lock_at_initial=max_loss.lock_at_initial,
            lock_offset=money(max_loss.lock_offset),
            breach_when=max_loss.breach_when,
            action=actions.max_loss,
        ),
        position_limits=PositionLimits(
            max_positions=risk.max_positions,
            max_concurrent_trades=risk.max_concurrent_trades,
            max_lots_per_symbol=_optional(risk.max_lots_per_symbol),
            max_total_lots=_optional(risk.max_total_lots),
            allowed_symbols=risk.allowed_symbols,
            require_stop_loss=risk.require_stop_loss,
            action=actions.position_limit,
            missing_stop_loss_action=actions.missing_stop_loss,
        ),
        risk_percent=quantity(risk.risk_percent),
        portfolio_risk_percent=quantity(risk.portfolio_risk_percent),
        portfolio_action=actions.portfolio_risk,
        warning_fraction=quantity(risk.warning_fraction),
        breach_confirmations=risk.breach_confirmations,
        liquidation_grace_seconds=float(risk.liquidation_grace_seconds),
        symbols=tuple(symbol_spec(s) for s in account.symbols),
        preset=risk.preset,
        peak_confirmations=risk.peak_confirmations,
        recover_margin=quantity(risk.recover_margin),
        feed=FeedRule(
            stale_after_seconds=float(risk.feed.stale_after_seconds),
            action=risk.feed.action,
            max_clock_skew_seconds=float(risk.feed.max_clock_skew_seconds),
        ),
        schedule=schedule(risk.schedule),
        objectives=Objectives(
            profit_target_percent=_optional(risk.objectives.profit_target_percent),
            min_trading_days=risk.objectives.min_trading_days,
            max_calendar_days=risk.objectives.max_calendar_days,
            best_day_percent=_optional(risk.objectives.best_day_percent),
        ),
        news_blackout=news_blackout(risk.news_blackout),
        group=None if group is None else group_rules(group),
    )


def group_rules(group: GroupConfig) -> GroupRules:
    limits = group.limits
    return GroupRules(
        name=group.name,
        accounts=group.accounts,
        max_lots_per_symbol=_optional(limits.max_lots_per_symbol),
        max_positions=limits.max_positions,
        min_headroom=None if limits.min_headroom is None else money(limits.min_headroom),
        forbid_cross_hedge=group.forbid_cross_hedge,
    )


def news_blackout(config: NewsBlackoutConfig | None) -> NewsBlackout | None:
    if config is None:
        return None
    warn = None if config.sl_tp_warn_pips is None else quantity(config.sl_tp_warn_pips)
    return NewsBlackout(config.impact, config.before_minutes, config.after_minutes,
                        config.instruments, warn)  # fmt: skip


def schedule(config: ScheduleConfig) -> Schedule:
    """The domain's time rules: the same fields, holidays as ISO dates."""
    flat, window, weekend = config.flat_by, config.allowed_hours, config.no_weekend_holding
    return Schedule(
        flat_by=None
        if flat is None
        else FlatBy(flat.time, flat.timezone, flat.days, flat.warn_before_minutes),
        allowed_hours=None
        if window is None
        else AllowedHours(window.start, window.end, window.timezone, window.days),
        no_weekend_holding=None
        if weekend is None
        else WeekendClose(weekend.friday_close, weekend.timezone, weekend.warn_before_minutes),
        holidays=tuple(sorted(d.isoformat() for d in config.holidays)),
    )


def symbol_spec(symbol: SymbolConfig) -> SymbolSpec:
    """What the domain needs of a symbol: contract, tick value and market-guard limits."""
    return SymbolSpec(
        name=symbol.name,
        digits=symbol.digits,
        point=quantity(symbol.point),
        contract_size=quantity(symbol.contract_size),
        tick_value=quantity(symbol.tick_value),
        tick_size=quantity(symbol.tick_size),
        max_spread_pips=_optional(symbol.max_spread_pips),
        max_gap_pips=_optional(symbol.max_gap_pips),
        stale_feed_seconds=symbol.stale_feed_seconds,
    )


def _optional(value: float | None) -> Decimal | None:
    return None if value is None else quantity(value)
