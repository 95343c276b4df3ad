"""Module-level façade shaped like `import MetaTrader5 as mt5`, backed by a default instance.

    from agents.terminal.simulator import mt5sim as mt5
    mt5.initialize(); mt5.positions_get()

`use(terminal)` installs a configured SimulatedTerminal; otherwise one with default settings
(wall clock) is created on first use.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

# ruff: noqa: PLC0414  (`X as X` marks the named tuples as re-exported, as MetaTrader5 has them)
from agents.terminal.mt5.constants import *  # noqa: F403  (the module exposes them all)
from agents.terminal.mt5.rates import RatesArray
from agents.terminal.mt5.structures import AccountInfo as AccountInfo
from agents.terminal.mt5.structures import OrderCheckResult as OrderCheckResult
from agents.terminal.mt5.structures import OrderSendResult as OrderSendResult
from agents.terminal.mt5.structures import TerminalInfo as TerminalInfo
from agents.terminal.mt5.structures import Tick as Tick
from agents.terminal.mt5.structures import TradeDeal as TradeDeal
from agents.terminal.mt5.structures import TradeOrder as TradeOrder
from agents.terminal.mt5.structures import TradePosition as TradePosition
from agents.terminal.mt5.structures import TradeRequest as TradeRequest
from agents.terminal.mt5.symbol_info import SymbolInfo as SymbolInfo
from agents.terminal.mt5.tick_array import TickArray
from agents.terminal.simulator.terminal import SimulatedTerminal

__author__ = "mtq (simulated MetaQuotes terminal)"
__version__ = "5.0.4755"

_default: SimulatedTerminal | None = None


def use(terminal: SimulatedTerminal | None) -> None:
    """Make `terminal` the instance behind the module functions (None: a fresh default)."""
    global _default  # noqa: PLW0603
    _default = terminal


def instance() -> SimulatedTerminal:
    """The instance behind the module functions."""
    global _default  # noqa: PLW0603
    if _default is None:
        _default = SimulatedTerminal()
    return _default


def initialize(path: str | None = None, **kwargs: Any) -> bool:
    return instance().initialize(path, **kwargs)


def login(
    login: int, password: str | None = None, server: str | None = None, timeout: int | None = None
) -> bool:
    return instance().login(login, password, server, timeout)


def shutdown() -> None:
    instance().shutdown()


def last_error() -> tuple[int, str]:
    return instance().last_error()


def version() -> tuple[int, int, str] | None:
    return instance().version()


def terminal_info() -> TerminalInfo | None:
    return instance().terminal_info()


def account_info() -> AccountInfo | None:
    return instance().account_info()


def symbol_info(symbol: str) -> SymbolInfo | None:
    return instance().symbol_info(symbol)


def symbol_info_tick(symbol: str) -> Tick | None:
    return instance().symbol_info_tick(symbol)


def copy_ticks_from(
    symbol: str, date_from: datetime | float | int, count: int, flags: int
) -> TickArray | None:
    return instance().copy_ticks_from(symbol, date_from, count, flags)


def positions_total() -> int | None:
    return instance().positions_total()


def positions_get(
    *, symbol: str | None = None, group: str | None = None, ticket: int | None = None
) -> tuple[TradePosition, ...] | None:
    return instance().positions_get(symbol=symbol, group=group, ticket=ticket)


def history_deals_get(
    date_from: datetime | float | int | None = None,
    date_to: datetime | float | int | None = None,
    *,
    group: str | None = None,
    ticket: int | None = None,
    position: int | None = None,
) -> tuple[TradeDeal, ...] | None:
    return instance().history_deals_get(
        date_from, date_to, group=group, ticket=ticket, position=position
    )


def order_send(request: dict[str, Any]) -> OrderSendResult | None:
    return instance().order_send(request)


def symbols_total() -> int | None:
    return instance().symbols_total()


def symbols_get(group: str | None = None) -> tuple[SymbolInfo, ...] | None:
    return instance().symbols_get(group)


def symbol_select(symbol: str, enable: bool = True) -> bool:
    return instance().symbol_select(symbol, enable)


def market_book_add(symbol: str) -> bool:
    return instance().market_book_add(symbol)


def market_book_get(symbol: str) -> tuple[Any, ...] | None:
    return instance().market_book_get(symbol)


def market_book_release(symbol: str) -> bool:
    return instance().market_book_release(symbol)


def copy_rates_from(symbol: str, timeframe: int, date_from: Any, count: int) -> RatesArray | None:
    return instance().copy_rates_from(symbol, timeframe, date_from, count)


def copy_rates_from_pos(
    symbol: str, timeframe: int, start_pos: int, count: int
) -> RatesArray | None:
    return instance().copy_rates_from_pos(symbol, timeframe, start_pos, count)


def copy_rates_range(
    symbol: str, timeframe: int, date_from: Any, date_to: Any
) -> RatesArray | None:
    return instance().copy_rates_range(symbol, timeframe, date_from, date_to)


def copy_ticks_range(
    symbol: str, date_from: datetime | float | int, date_to: datetime | float | int, flags: int
) -> TickArray | None:
    return instance().copy_ticks_range(symbol, date_from, date_to, flags)


def orders_total() -> int | None:
    return instance().orders_total()


def orders_get(
    *, symbol: str | None = None, group: str | None = None, ticket: int | None = None
) -> tuple[TradeOrder, ...] | None:
    return instance().orders_get(symbol, group=group, ticket=ticket)


def order_calc_margin(action: int, symbol: str, volume: float, price: float) -> float | None:
    return instance().order_calc_margin(action, symbol, volume, price)


def order_calc_profit(
    action: int, symbol: str, volume: float, price_open: float, price_close: float
) -> float | None:
    return instance().order_calc_profit(action, symbol, volume, price_open, price_close)


def order_check(request: dict[str, Any]) -> OrderCheckResult | None:
    return instance().order_check(request)


def history_orders_total(
    date_from: datetime | float | int, date_to: datetime | float | int
) -> int | None:
    return instance().history_orders_total(date_from, date_to)


def history_orders_get(
    date_from: datetime | float | int | None = None,
    date_to: datetime | float | int | None = None,
    *,
    group: str | None = None,
    ticket: int | None = None,
    position: int | None = None,
) -> tuple[TradeOrder, ...] | None:
    return instance().history_orders_get(
        date_from, date_to, group=group, ticket=ticket, position=position
    )


def history_deals_total(
    date_from: datetime | float | int, date_to: datetime | float | int
) -> int | None:
    return instance().history_deals_total(date_from, date_to)


# The module's Python helpers (MetaTrader5/__init__.py), with the same behaviour.


def _raw_order(  # noqa: PLR0917
    order_type: int,
    symbol: str,
    volume: float,
    price: float,
    comment: str | None = None,
    ticket: int | None = None,
) -> OrderSendResult | None:
    order: dict[str, Any] = {
        "action": TRADE_ACTION_DEAL,  # noqa: F405
        "symbol": symbol,
        "volume": volume,
        "type": order_type,
        "price": price,
        "deviation": 10,
    }
    if comment is not None:
        order["comment"] = comment
    if ticket is not None:
        order["position"] = ticket
    return order_send(order)


def Buy(  # noqa: N802 - the module's name
    symbol: str, volume: float, price: float | None = None, *, comment: str | None = None,
    ticket: int | None = None,
) -> OrderSendResult | None:  # fmt: skip
    return _market(ORDER_TYPE_BUY, symbol, volume, price, comment, ticket)  # noqa: F405


def Sell(  # noqa: N802 - the module's name
    symbol: str, volume: float, price: float | None = None, *, comment: str | None = None,
    ticket: int | None = None,
) -> OrderSendResult | None:  # fmt: skip
    return _market(ORDER_TYPE_SELL, symbol, volume, price, comment, ticket)  # noqa: F405


def _market(  # noqa: PLR0917
    order_type: int,
    symbol: str,
    volume: float,
    price: float | None,
    comment: str | None,
    ticket: int | None,
) -> OrderSendResult | None:
    if price is not None:
        return _raw_order(order_type, symbol, volume, price, comment, ticket)
    result = None
    for _ in range(10):
        info = symbol_info_tick(symbol)
        if info is None:
            return None
        quote = info.ask if order_type == ORDER_TYPE_BUY else info.bid  # noqa: F405
        result = _raw_order(order_type, symbol, volume, quote, comment, ticket)
        if result is None:
            return None
        if result.retcode not in (TRADE_RETCODE_REQUOTE, TRADE_RETCODE_PRICE_OFF):  # noqa: F405
            break
    return result


def Close(  # noqa: N802 - the module's name
    symbol: str, *, comment: str | None = None, ticket: int | None = None
) -> bool | str | None:
    """Close the symbol's positions (or one by ticket): True, "Partially", False or None."""
    found = positions_get(ticket=ticket) if ticket is not None else positions_get(symbol=symbol)
    if found is None:
        return None
    tried = done = 0
    for pos in found:
        if pos.type not in (ORDER_TYPE_BUY, ORDER_TYPE_SELL):  # noqa: F405
            continue
        tried += 1
        opposite = ORDER_TYPE_SELL if pos.type == ORDER_TYPE_BUY else ORDER_TYPE_BUY  # noqa: F405
        result = _market(opposite, symbol, pos.volume, None, comment, pos.ticket)
        if result is None:
            return None
        done += result.retcode == TRADE_RETCODE_DONE  # noqa: F405
    if done:
        return True if done == tried else "Partially"
    return False
