"""The real terminal: delegates to the `MetaTrader5` module (Windows, `mt5` extra)."""

from __future__ import annotations

import importlib
import sys
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any, TypeVar

from agents.terminal.mt5.structures import (
    AccountInfo,
    OrderSendResult,
    TerminalInfo,
    Tick,
    TradeDeal,
    TradePosition,
    TradeRequest,
)
from agents.terminal.mt5.symbol_info import SymbolInfo
from agents.terminal.mt5.tick_array import as_ticks
from agents.terminal.port import TerminalUnavailable, When

N = TypeVar("N")

_DEALS_LOOKAHEAD_S = 7 * 86_400  # broker server time can run hours ahead of UTC


def unavailable_message() -> str:
    platform = sys.platform
    return (
        "the real MetaTrader5 terminal needs Windows and the 'mt5' extra "
        f"(pip install mtq[mt5]); this machine is {platform} — use terminal kind 'simulator'"
    )


def load_metatrader5() -> ModuleType:
    """Import `MetaTrader5`, or fail with TerminalUnavailable saying what is missing."""
    if sys.platform != "win32":
        raise TerminalUnavailable(unavailable_message())
    try:
        return importlib.import_module("MetaTrader5")
    except ImportError as exc:
        raise TerminalUnavailable(f"{unavailable_message()} ({exc})") from exc


def _convert(cls: Callable[..., N], obj: Any) -> N:
    """Copy one of the module's named tuples into ours (field by field, by name)."""
    fields: tuple[str, ...] = cls._fields  # type: ignore[attr-defined]
    return cls(**{name: getattr(obj, name) for name in fields if hasattr(obj, name)})


def _convert_all(cls: Callable[..., N], items: Any) -> tuple[N, ...] | None:
    return None if items is None else tuple(_convert(cls, item) for item in items)


def _given(**kwargs: Any) -> dict[str, Any]:
    return {key: value for key, value in kwargs.items() if value is not None}


class RealTerminal:
    """TerminalPort over the `MetaTrader5` module. `module` may be injected (tests)."""

    def __init__(
        self,
        path: str | None = None,
        *,
        timeout_ms: int | None = None,
        module: ModuleType | None = None,
    ) -> None:
        self.path = path
        self.timeout_ms = timeout_ms
        self._mt5 = module if module is not None else load_metatrader5()

    def initialize(
        self,
        path: str | None = None,
        *,
        login: int | None = None,
        password: str | None = None,
        server: str | None = None,
        timeout: int | None = None,
    ) -> bool:
        kwargs = _given(
            login=login, password=password, server=server, timeout=timeout or self.timeout_ms
        )
        target = path or self.path
        args = (target,) if target else ()
        return bool(self._mt5.initialize(*args, **kwargs))

    def login(
        self,
        login: int,
        password: str | None = None,
        server: str | None = None,
        timeout: int | None = None,
    ) -> bool:
        kwargs = _given(password=password, server=server, timeout=timeout or self.timeout_ms)
        return bool(self._mt5.login(login, **kwargs))

    def shutdown(self) -> None:
        self._mt5.shutdown()

    def last_error(self) -> tuple[int, str]:
        code, description = self._mt5.last_error()
        return int(code), str(description)

    def account_info(self) -> AccountInfo | None:
        info = self._mt5.account_info()
        return None if info is None else _convert(AccountInfo, info)

    def terminal_info(self) -> TerminalInfo | None:
        info = self._mt5.terminal_info()
        return None if info is None else _convert(TerminalInfo, info)

    def symbol_info(self, symbol: str) -> SymbolInfo | None:
        info = self._mt5.symbol_info(symbol)
        return None if info is None else _convert(SymbolInfo, info)

    def symbol_info_tick(self, symbol: str) -> Tick | None:
        tick = self._mt5.symbol_info_tick(symbol)
        return None if tick is None else _convert(Tick, tick)

    def copy_ticks_from(
        self, symbol: str, date_from: When, count: int, flags: int
    ) -> tuple[Tick, ...] | None:
        rows = self._mt5.copy_ticks_from(symbol, date_from, count, flags)
        return None if rows is None else as_ticks(rows)

    def positions_get(
        self, *, symbol: str | None = None, group: str | None = None, ticket: int | None = None
    ) -> tuple[TradePosition, ...] | None:
        found = self._mt5.positions_get(**_given(symbol=symbol, ticket=ticket, group=group))
        return _convert_all(TradePosition, found)

    def history_deals_get(
        self,
        date_from: When | None = None,
        date_to: When | None = None,
        *,
        group: str | None = None,
        ticket: int | None = None,
        position: int | None = None,
    ) -> tuple[TradeDeal, ...] | None:
        if ticket is not None:
            found = self._mt5.history_deals_get(ticket=ticket)
        elif position is not None:
            found = self._mt5.history_deals_get(position=position)
        else:
            start = 0 if date_from is None else date_from
            end = int(time.time()) + _DEALS_LOOKAHEAD_S if date_to is None else date_to
            found = self._mt5.history_deals_get(start, end, **_given(group=group))
        return _convert_all(TradeDeal, found)

    def order_send(self, request: dict[str, Any]) -> OrderSendResult | None:
        result = self._mt5.order_send(request)
        if result is None:
            return None
        converted = _convert(OrderSendResult, result)
        return converted._replace(request=_convert(TradeRequest, converted.request))
