"""Async access to a TerminalPort: every call runs on one dedicated worker thread, timed."""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar

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
from agents.terminal.port import TerminalPort, When

OK: tuple[int, str] = (1, "Success")
P = ParamSpec("P")
T = TypeVar("T")


class AsyncTerminal:
    """Runs a TerminalPort's calls on a single worker thread and measures their latency.

    The `MetaTrader5` module is a per-process singleton and not thread-safe, so one process
    drives one terminal, always from the same thread. Latency is the time the call itself
    took on the worker (queueing behind earlier calls is not counted).

    With `inline` the calls run on the caller's thread instead (a simulator in tests and load
    tests, where a thread per terminal would cost more than the calls themselves): the agent's
    session then calls `invoke_inline` without any coroutine hop.
    """

    def __init__(
        self, terminal: TerminalPort, *, thread_name: str = "mt5-terminal", inline: bool = False
    ) -> None:
        self.terminal = terminal
        self.inline = inline
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=thread_name)
        self._worker_ident: int | None = None
        self._stats_lock = threading.Lock()
        self._calls = 0
        self._total_ms = 0.0
        self._last_ms: float | None = None
        self._max_ms = 0.0
        self._closed = False

    # --- latency -------------------------------------------------------------------------

    @property
    def calls(self) -> int:
        return self._calls

    @property
    def last_latency_ms(self) -> float | None:
        """Duration of the most recent call, None before the first."""
        return self._last_ms

    @property
    def avg_latency_ms(self) -> float | None:
        """Mean duration of all calls so far, None before the first."""
        with self._stats_lock:
            return self._total_ms / self._calls if self._calls else None

    @property
    def max_latency_ms(self) -> float:
        return self._max_ms

    @property
    def worker_thread_id(self) -> int | None:
        """`threading.get_ident()` of the worker thread, once it has run a call."""
        return self._worker_ident

    # --- generic call --------------------------------------------------------------------

    async def call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run `fn(*args, **kwargs)` on the worker thread (for calls not wrapped below)."""
        if self._closed:
            raise RuntimeError("AsyncTerminal is closed")
        if self.inline:
            return self._timed(fn, *args, **kwargs)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor, functools.partial(self._timed, fn, *args, **kwargs)
        )

    def _timed(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        self._worker_ident = threading.get_ident()
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            elapsed = (time.perf_counter() - started) * 1000.0
            with self._stats_lock:
                self._calls += 1
                self._total_ms += elapsed
                self._last_ms = elapsed
                self._max_ms = max(self._max_ms, elapsed)

    async def close(self, *, shutdown_terminal: bool = True) -> None:
        """Optionally shut the terminal down (on the worker), then stop the worker thread."""
        if self._closed:
            return
        if shutdown_terminal:
            await self.shutdown()
        self._closed = True
        if self.inline:
            self._executor.shutdown(wait=False)
            return
        await asyncio.get_running_loop().run_in_executor(None, self._executor.shutdown, True)

    # --- the port's calls ----------------------------------------------------------------

    async def initialize(
        self,
        path: str | None = None,
        *,
        login: int | None = None,
        password: str | None = None,
        server: str | None = None,
        timeout: int | None = None,  # noqa: ASYNC109 (the terminal's own timeout, in ms)
    ) -> bool:
        return await self.call(
            self.terminal.initialize,
            path,
            login=login,
            password=password,
            server=server,
            timeout=timeout,
        )

    async def login(
        self,
        login: int,
        password: str | None = None,
        server: str | None = None,
        timeout: int | None = None,  # noqa: ASYNC109 (the terminal's own timeout, in ms)
    ) -> bool:
        return await self.call(self.terminal.login, login, password, server, timeout)

    async def shutdown(self) -> None:
        await self.call(self.terminal.shutdown)

    async def last_error(self) -> tuple[int, str]:
        return await self.call(self.terminal.last_error)

    async def account_info(self) -> AccountInfo | None:
        return await self.call(self.terminal.account_info)

    async def terminal_info(self) -> TerminalInfo | None:
        return await self.call(self.terminal.terminal_info)

    async def symbol_info(self, symbol: str) -> SymbolInfo | None:
        return await self.call(self.terminal.symbol_info, symbol)

    async def symbol_info_tick(self, symbol: str) -> Tick | None:
        return await self.call(self.terminal.symbol_info_tick, symbol)

    async def copy_ticks_from(
        self, symbol: str, date_from: When, count: int, flags: int
    ) -> TickRows | None:
        return await self.call(self.terminal.copy_ticks_from, symbol, date_from, count, flags)

    async def positions_get(
        self, *, symbol: str | None = None, group: str | None = None, ticket: int | None = None
    ) -> tuple[TradePosition, ...] | None:
        return await self.call(self.terminal.positions_get, symbol=symbol, group=group,
                               ticket=ticket)  # fmt: skip

    async def history_deals_get(
        self,
        date_from: When | None = None,
        date_to: When | None = None,
        *,
        group: str | None = None,
        ticket: int | None = None,
        position: int | None = None,
    ) -> tuple[TradeDeal, ...] | None:
        return await self.call(
            self.terminal.history_deals_get,
            date_from,
            date_to,
            group=group,
            ticket=ticket,
            position=position,
        )

    async def order_send(self, request: dict[str, Any]) -> OrderSendResult | None:
        return await self.call(self.terminal.order_send, request)

    async def set_trading_state(self, state: str) -> bool:
        """Forward the account's trading state to a terminal with that hook (the simulator)."""
        hook = getattr(self.terminal, "set_trading_state", None)
        if hook is None:
            return False
        await self.call(hook, state)
        return True

    async def call_with_error(
        self, name: str, *args: Any, **kwargs: Any
    ) -> tuple[Any, tuple[int, str]]:
        """Call the port's `name` and, when it returns None, read `last_error()` in the same
        worker job, so no other call can slip in between."""
        return await self.call(self.invoke_inline, name, *args, **kwargs)

    def invoke_inline(self, name: str, *args: Any, **kwargs: Any) -> tuple[Any, tuple[int, str]]:
        """`call_with_error` on the caller's thread (only for `inline` terminals)."""
        result = getattr(self.terminal, name)(*args, **kwargs)
        if result is None:
            code, text = self.terminal.last_error()
            return None, (int(code), str(text))
        return result, OK
