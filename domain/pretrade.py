"""The pre-trade check: would an order be allowed now? Pure function of its inputs.

An order that reduces the open net exposure on its symbol (opposite side, volume at most
the net) is always approved, whatever the trading state or limits. Anything else must pass
every check; each failure is one reason, e.g. `lots 0.5 > max_lots_per_symbol 0.2`.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from domain.group import GroupView, order_reasons
from domain.inputs import MarketEvidence, OrderRequest, PreTradeAnswer
from domain.money import ZERO, percent_of
from domain.position_limits import (
    Position,
    net_volume,
    open_symbols,
    portfolio_risk,
    stop_risk,
    symbol_lots,
    total_lots,
)
from domain.rules import RiskRules, SymbolSpec
from domain.schedule import closed_reasons
from domain.trading_state import TradingState


def reduces_exposure(net: Decimal, request: OrderRequest) -> bool:
    """Whether `request` shrinks the net position `net` (buy lots minus sell lots)."""
    if request.volume <= ZERO:
        return False
    if net > ZERO:
        return request.side == "sell" and request.volume <= net
    if net < ZERO:
        return request.side == "buy" and request.volume <= -net
    return False


def check_order(
    rules: RiskRules,
    state: TradingState,
    positions: Collection[Position],
    request: OrderRequest,
    *,
    market: MarketEvidence | None,
    now: datetime,
    equity: Decimal | None,
    liquidation_pending: str | None = None,
    blackout: Sequence[str] = (),
    group: GroupView | None = None,
) -> PreTradeAnswer:
    """Approve or deny `request` against `rules`, the open `positions` and the market.

    While a liquidation is pending (`liquidation_pending`: its reason) nothing that adds
    exposure is approved, whatever the trading state; nor while the schedule is closed at
    `now` (past flat_by, outside allowed_hours, a holiday: domain/schedule.py). Inside a
    news blackout (`blackout`: its reasons, domain/news_rule.py) nothing on the symbol is
    approved, not even an order that reduces: the firm forbids closing there too.
    """
    net = net_volume(positions, request.symbol)
    limits: dict[str, Any] = {"trading_state": state, "net_volume": str(net)}
    if blackout:
        limits["news_blackout"] = True
        if reduces_exposure(net, request):
            limits["reduces_exposure"] = True
            return PreTradeAnswer(False, tuple(blackout), limits)
    if reduces_exposure(net, request):
        limits["reduces_exposure"] = True
        return PreTradeAnswer(True, (), limits)
    limits["reduces_exposure"] = False
    reasons: list[str] = list(blackout)
    if state != "ACTIVE":
        reasons.append(f"trading_state {state}")
    if liquidation_pending is not None:
        reasons.append(f"liquidation pending: {liquidation_pending}")
    reasons.extend(closed_reasons(rules, now))
    if request.volume <= ZERO:
        reasons.append(f"volume {request.volume} <= 0")
    spec = rules.symbol(request.symbol)
    reasons.extend(_symbol_reasons(rules, request.symbol, spec))
    reasons.extend(_count_reasons(rules, positions, request))
    if group is not None:
        limits["group"] = group.rules.name
        reasons.extend(order_reasons(group, request.symbol, request.side, request.volume))
    if spec is not None:
        reasons.extend(_risk_reasons(rules, spec, positions, request, equity=equity, limits=limits))
        reasons.extend(_market_reasons(spec, market, now))
    return PreTradeAnswer(not reasons, tuple(reasons), limits)


def _symbol_reasons(rules: RiskRules, symbol: str, spec: SymbolSpec | None) -> list[str]:
    reasons: list[str] = []
    allowed = rules.position_limits.allowed_symbols
    if allowed is not None and symbol not in allowed:
        reasons.append(f"symbol {symbol} not in allowed_symbols")
    if spec is None:
        reasons.append(f"symbol {symbol} unknown")
    return reasons


def _count_reasons(
    rules: RiskRules, positions: Collection[Position], request: OrderRequest
) -> list[str]:
    pl = rules.position_limits
    reasons: list[str] = []
    if pl.max_lots_per_symbol is not None:
        lots = symbol_lots(positions, request.symbol) + request.volume
        if lots > pl.max_lots_per_symbol:
            reasons.append(f"lots {lots} > max_lots_per_symbol {pl.max_lots_per_symbol}")
    if pl.max_total_lots is not None:
        lots = total_lots(positions) + request.volume
        if lots > pl.max_total_lots:
            reasons.append(f"total_lots {lots} > max_total_lots {pl.max_total_lots}")
    count = len(positions) + 1
    if count > pl.max_positions:
        reasons.append(f"positions {count} > max_positions {pl.max_positions}")
    symbols = open_symbols(positions) | {request.symbol}
    if len(symbols) > pl.max_concurrent_trades:
        reasons.append(
            f"concurrent_trades {len(symbols)} > max_concurrent_trades {pl.max_concurrent_trades}"
        )
    if pl.require_stop_loss and request.sl == ZERO:
        reasons.append("stop_loss 0 but require_stop_loss")
    return reasons


def _risk_reasons(
    rules: RiskRules,
    spec: SymbolSpec,
    positions: Collection[Position],
    request: OrderRequest,
    *,
    equity: Decimal | None,
    limits: dict[str, Any],
) -> list[str]:
    if request.sl == ZERO:
        return []
    if equity is None:
        return ["equity unknown: no account snapshot yet"]
    trade = stop_risk(spec, request.price, request.sl, request.volume)
    portfolio = portfolio_risk(rules, positions) + trade
    max_trade = percent_of(rules.risk_percent, equity)
    max_portfolio = percent_of(rules.portfolio_risk_percent, equity)
    limits.update(
        equity=str(equity),
        trade_risk=str(trade),
        max_trade_risk=str(max_trade),
        portfolio_risk=str(portfolio),
        max_portfolio_risk=str(max_portfolio),
    )
    reasons: list[str] = []
    if trade > max_trade:
        reasons.append(
            f"trade_risk {trade} > {max_trade} (risk_percent {rules.risk_percent}"
            f" of equity {equity})"
        )
    if portfolio > max_portfolio:
        reasons.append(
            f"portfolio_risk {portfolio} > {max_portfolio} (portfolio_risk_percent"
            f" {rules.portfolio_risk_percent} of equity {equity})"
        )
    return reasons


def _market_reasons(spec: SymbolSpec, market: MarketEvidence | None, now: datetime) -> list[str]:
    reasons: list[str] = []
    has_tick = market is not None and market.tick_time is not None
    quoted = market is not None and market.bid is not None and market.ask is not None
    if spec.max_spread_pips is not None and quoted:
        assert market is not None
        assert market.bid is not None
        assert market.ask is not None
        spread = (market.ask - market.bid) / spec.pip
        if spread > spec.max_spread_pips:
            shown = spread.quantize(Decimal("0.01"))
            reasons.append(f"spread {shown} pips > max_spread_pips {spec.max_spread_pips}")
    if spec.max_gap_pips is not None:
        reasons.extend(_gap_reasons(spec, spec.max_gap_pips, market))
    if spec.stale_feed_seconds is not None:
        if not has_tick:
            reasons.append(
                f"no tick for {spec.name} (stale_feed_seconds {spec.stale_feed_seconds:g})"
            )
        else:
            assert market is not None
            assert market.tick_time is not None
            age = (now - market.tick_time).total_seconds()
            if age > spec.stale_feed_seconds:
                reasons.append(
                    f"tick_age {age:.1f}s > stale_feed_seconds {spec.stale_feed_seconds:g}"
                )
    return reasons


def _gap_reasons(spec: SymbolSpec, limit: Decimal, market: MarketEvidence | None) -> list[str]:
    """The jump from the previous tick to the last one, on bid or ask, against `limit`."""
    limit = limit.normalize()
    if market is None or market.bid is None or market.ask is None:
        return []  # no tick at all: the spread and stale-feed checks speak for it
    if market.previous_bid is None or market.previous_ask is None:
        return [f"no previous tick of {spec.name} to judge max_gap_pips {limit:f}"]
    gap = max(abs(market.bid - market.previous_bid), abs(market.ask - market.previous_ask))
    pips = gap / spec.pip
    if pips <= limit:
        return []
    shown = pips.quantize(Decimal("0.01"))
    return [
        f"gap {shown} pips > max_gap_pips {limit:f} (bid {market.previous_bid} -> {market.bid})"
    ]
