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
from agents.terminal.mt5.structures import AccountInfo as AccountInfo
from agents.terminal.mt5.structures import OrderSendResult as OrderSendResult
from agents.terminal.mt5.structures import TerminalInfo as TerminalInfo
from agents.terminal.mt5.structures import Tick as Tick
from agents.terminal.mt5.structures import TradeDeal as TradeDeal
from agents.terminal.mt5.structures import TradePosition as TradePosition
from agents.terminal.mt5.structures import TradeRequest as TradeRequest
from agents.terminal.mt5.symbol_info import SymbolInfo as SymbolInfo
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
) -> tuple[Tick, ...] | None:
    return instance().copy_ticks_from(symbol, date_from, count, flags)


def positions_total() -> int | None:
    return instance().positions_total()


def positions_get(
    symbol: str | None = None, *, ticket: int | None = None, group: str | None = None
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
