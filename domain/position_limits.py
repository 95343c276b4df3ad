"""Position limits and stop-loss risk over the tracked positions (plain dicts, as recorded).

A tracked position is a dict with at least `identifier`, `symbol`, `side`, `volume`,
`price_open` and `sl` (Decimals for numbers). Lots are gross: a buy and a sell of 1 lot on one
symbol count 2 lots. `max_concurrent_trades` counts the symbols with open exposure at once
(any open position on a symbol is one trade, however many positions make it up);
`max_positions` counts open positions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from domain.money import CENT, ZERO
from domain.rules import PositionAction, PositionLimits, RiskRules, SymbolSpec

Position = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken limit: the rule, the value found, the limit, and the action to take."""

    rule: str
    value: str
    limit: str
    action: PositionAction

    @property
    def reason(self) -> str:
        return f"{self.rule} {self.value} > {self.limit}"


def symbol_lots(positions: Iterable[Position], symbol: str) -> Decimal:
    """Gross lots open on `symbol`."""
    return sum((p["volume"] for p in positions if p["symbol"] == symbol), ZERO)


def total_lots(positions: Iterable[Position]) -> Decimal:
    return sum((p["volume"] for p in positions), ZERO)


def net_volume(positions: Iterable[Position], symbol: str) -> Decimal:
    """Buy lots minus sell lots on `symbol`."""
    net = ZERO
    for p in positions:
        if p["symbol"] == symbol:
            net += p["volume"] if p["side"] == "buy" else -p["volume"]
    return net


def open_symbols(positions: Iterable[Position]) -> set[str]:
    return {p["symbol"] for p in positions}


def stop_risk(spec: SymbolSpec, price: Decimal, sl: Decimal, volume: Decimal) -> Decimal:
    """Money lost if the stop loss is hit: |price - sl| / tick_size * tick_value * volume."""
    return (abs(price - sl) / spec.tick_size * spec.tick_value * volume).quantize(CENT)


def portfolio_risk(rules: RiskRules, positions: Iterable[Position]) -> Decimal:
    """Sum of the stop risk of the open positions that have a stop loss and a known symbol."""
    total = ZERO
    for p in positions:
        spec = rules.symbol(p["symbol"])
        if spec is not None and p["sl"] != ZERO:
            total += stop_risk(spec, p["price_open"], p["sl"], p["volume"])
    return total


def violations_on_open(
    limits: PositionLimits, positions: Mapping[str, Position], opened: Position
) -> list[Violation]:
    """Limits broken by `opened`, which `positions` (keyed by identifier) already holds."""
    found: list[Violation] = []
    action = limits.action
    symbol = opened["symbol"]
    if limits.allowed_symbols is not None and symbol not in limits.allowed_symbols:
        found.append(Violation("symbol", symbol, "allowed_symbols", action))
    count = len(positions)
    if count > limits.max_positions:
        found.append(
            Violation("positions", str(count), f"max_positions {limits.max_positions}", action)
        )
    others = [p for k, p in positions.items() if p["symbol"] == symbol and p is not opened]
    symbols = len(open_symbols(positions.values()))
    if not others and symbols > limits.max_concurrent_trades:
        found.append(
            Violation(
                "concurrent_trades",
                str(symbols),
                f"max_concurrent_trades {limits.max_concurrent_trades}",
                action,
            )
        )
    found.extend(_lot_violations(limits, positions, symbol))
    if limits.require_stop_loss and opened["sl"] == ZERO:
        found.append(Violation("stop_loss", "0", "required", limits.missing_stop_loss_action))
    return found


def violations_on_modify(
    limits: PositionLimits, positions: Mapping[str, Position], old: Position, new: Position
) -> list[Violation]:
    """Limits newly broken by a modification: more lots, or the stop loss removed."""
    found: list[Violation] = []
    if new["volume"] > old["volume"]:
        found.extend(_lot_violations(limits, positions, new["symbol"]))
    if limits.require_stop_loss and new["sl"] == ZERO and old["sl"] != ZERO:
        found.append(Violation("stop_loss", "0", "required", limits.missing_stop_loss_action))
    return found


def _lot_violations(
    limits: PositionLimits, positions: Mapping[str, Position], symbol: str
) -> list[Violation]:
    found: list[Violation] = []
    if limits.max_lots_per_symbol is not None:
        lots = symbol_lots(positions.values(), symbol)
        if lots > limits.max_lots_per_symbol:
            found.append(
                Violation(
                    "lots",
                    str(lots),
                    f"max_lots_per_symbol {limits.max_lots_per_symbol}",
                    limits.action,
                )
            )
    if limits.max_total_lots is not None:
        lots = total_lots(positions.values())
        if lots > limits.max_total_lots:
            found.append(
                Violation(
                    "total_lots",
                    str(lots),
                    f"max_total_lots {limits.max_total_lots}",
                    limits.action,
                )
            )
    return found
