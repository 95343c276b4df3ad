"""The terminal port: the `MetaTrader5` calls agents make, identical for every adapter.

Every call has the module's name and semantics: it returns None (or False) on failure and
the reason is then available from `last_error()` as `(code, description)`. Results are the
module's named tuples (see `agents.terminal.mt5.structures` for their fields), except
`copy_ticks_from`: the simulator returns the module's numpy structured array
(`agents.terminal.mt5.tick_array.TICK_DTYPE`), the real adapter `Tick` tuples; callers read
both with `as_ticks`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from agents.terminal.mt5.structures import (
    AccountInfo,
    OrderSendResult,
    TerminalInfo,
    Tick,
    TradeDeal,
    TradePosition,
)
from agents.terminal.mt5.symbol_info import SymbolInfo
from agents.terminal.mt5.tick_array import TickRows

When = datetime | int | float
"""A moment as the module accepts it: a datetime or seconds since the epoch (UTC)."""


class TerminalUnavailable(RuntimeError):
    """The terminal cannot be used: the adapter cannot run here (the real terminal on Linux),
    or the session is disconnected or its breaker open (`agents.session`)."""


@runtime_checkable
class TerminalPort(Protocol):
    """One MT5 terminal session. Not thread-safe: call it from one thread (AsyncTerminal)."""

    def initialize(
        self,
        path: str | None = None,
        *,
        login: int | None = None,
        password: str | None = None,
        server: str | None = None,
        timeout: int | None = None,
    ) -> bool: ...

    def login(
        self,
        login: int,
        password: str | None = None,
        server: str | None = None,
        timeout: int | None = None,
    ) -> bool: ...

    def shutdown(self) -> None: ...

    def last_error(self) -> tuple[int, str]: ...

    def account_info(self) -> AccountInfo | None: ...

    def terminal_info(self) -> TerminalInfo | None: ...

    def symbol_info(self, symbol: str) -> SymbolInfo | None: ...

    def symbol_info_tick(self, symbol: str) -> Tick | None: ...

    def copy_ticks_from(
        self, symbol: str, date_from: When, count: int, flags: int
    ) -> TickRows | None: ...

    def positions_get(
        self, *, symbol: str | None = None, group: str | None = None, ticket: int | None = None
    ) -> tuple[TradePosition, ...] | None: ...

    def history_deals_get(
        self,
        date_from: When | None = None,
        date_to: When | None = None,
        *,
        group: str | None = None,
        ticket: int | None = None,
        position: int | None = None,
    ) -> tuple[TradeDeal, ...] | None: ...

    def order_send(self, request: dict[str, Any]) -> OrderSendResult | None: ...
