"""Terminal session: calls through a circuit breaker, reconnect with backoff, latency."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, Final, Protocol

from agents.backoff import Backoff
from agents.breaker import BreakerState, CircuitBreaker

log = logging.getLogger(__name__)

RES_S_OK: Final = 1
# last_error() codes that mean the terminal connection itself is gone.
DISCONNECTED_CODES: Final = frozenset({-10001, -10002, -10003, -10004, -10005})


class AsyncTerminal(Protocol):
    """The `MetaTrader5` calls an agent makes, awaitable (see agents/terminal/)."""

    async def initialize(self, *args: Any, **kwargs: Any) -> bool: ...
    async def login(self, *args: Any, **kwargs: Any) -> bool: ...
    async def shutdown(self) -> None: ...
    async def last_error(self) -> tuple[int, str]: ...
    async def account_info(self) -> Any: ...
    async def symbol_info_tick(self, symbol: str) -> Any: ...
    async def copy_ticks_from(self, symbol: str, date_from: Any, count: int, flags: int) -> Any: ...
    async def positions_get(self, *args: Any, **kwargs: Any) -> Any: ...
    async def history_deals_get(self, *args: Any, **kwargs: Any) -> Any: ...
    async def order_send(self, request: dict[str, Any]) -> Any: ...


class InlineTerminal:
    """Awaitable calls on a synchronous MT5-like object, run inline on the event loop.

    For the simulator in tests and load tests; the real terminal goes through a thread.
    """

    def __init__(self, target: Any) -> None:
        self.target = target

    def __getattr__(self, name: str) -> Callable[..., Any]:
        func = getattr(self.target, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            return func(*args, **kwargs)

        setattr(self, name, call)  # made once per name, not on every call
        return call


class TerminalUnavailable(RuntimeError):
    """The terminal cannot be used now (disconnected or breaker open)."""


class TerminalSession:
    """Owns the terminal connection; every call goes through the breaker and is timed."""

    def __init__(
        self,
        terminal: Any,
        *,
        breaker: CircuitBreaker,
        backoff: Backoff,
        login: int | None = None,
        password: str | None = None,
        server: str | None = None,
        path: str | None = None,
        timeout_ms: int = 60_000,
        slow_ms: float = 500.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.terminal = terminal
        self.breaker = breaker
        self.backoff = backoff
        self._login = login
        self._password = password
        self._server = server
        self._path = path
        self._timeout_ms = timeout_ms
        self._slow_ms = slow_ms
        self._clock = clock
        self.connected = False
        self.latency_ms = 0.0
        self.last_error = ""
        self.failures = 0
        self.reconnects = 0
        self._next_attempt = 0.0
        self._slow_logged = 0.0
        both = getattr(terminal, "call_with_error", None)
        inner = getattr(terminal, "terminal", None)
        self._call_with_error = both if inner is not None else None
        self._inner = inner
        self._sync_target = terminal.target if isinstance(terminal, InlineTerminal) else None

    @property
    def breaker_state(self) -> BreakerState:
        return self.breaker.state

    async def ensure_connected(self) -> bool:
        """Connect if due (backoff and breaker permitting); True when connected."""
        if self.connected:
            return True
        now = self._clock()
        if now < self._next_attempt or not self.breaker.allow():
            return False
        kwargs: dict[str, Any] = {"timeout": self._timeout_ms}
        if self._login is not None:
            kwargs.update(login=self._login, password=self._password, server=self._server)
        ok = False
        try:
            with_path = (self._path,) if self._path else ()
            if await self._timed(self.terminal.initialize(*with_path, **kwargs)):
                # initialize() can succeed while every call still fails: probe a real call.
                probe, (code, text) = await self._invoke("account_info")
                ok = probe is not None
                if not ok:
                    self.last_error = f"account_info after initialize failed: {code} {text}"
            else:
                code, text = await self._error()
                self.last_error = f"initialize failed: {code} {text}"
        except Exception as exc:  # noqa: BLE001 - any adapter failure is a failed attempt
            self.last_error = f"initialize raised {type(exc).__name__}: {exc}"
        if not ok:
            self.breaker.record_failure()
            self._next_attempt = self._clock() + self.backoff.next_delay()
            log.warning("terminal connect failed (%s); next try later", self.last_error)
            return False
        self.breaker.record_success()
        self.backoff.reset()
        if self.reconnects or self.failures:
            log.info("terminal connected again")
        self.reconnects += 1
        self.connected = True
        self.last_error = ""
        return True

    async def _invoke(self, name: str, *args: Any, **kwargs: Any) -> tuple[Any, tuple[int, str]]:
        """Call and read last_error atomically when the facade can (one worker job)."""
        target = self._sync_target
        if target is not None:  # a synchronous terminal on the loop: no coroutine hops
            started = self._clock()
            try:
                result = getattr(target, name)(*args, **kwargs)
            finally:
                self._record_latency(started)
            if result is None:
                code, text = target.last_error()
                return None, (int(code), str(text))
            return result, (RES_S_OK, "Success")
        both, inner = self._call_with_error, self._inner
        if both is not None:
            result, (code, text) = await self._timed(both(getattr(inner, name), *args, **kwargs))
            return result, (int(code), str(text))
        result = await self._timed(getattr(self.terminal, name)(*args, **kwargs))
        if result is None:
            return None, await self._error()
        return result, (RES_S_OK, "Success")

    async def call(self, name: str, *args: Any, empty_ok: bool = True, **kwargs: Any) -> Any:
        """Call `name`; None with a failure code counts against the breaker and raises.

        With `empty_ok`, None with last_error RES_S_OK (nothing found) is returned as None.
        """
        if not self.connected:
            raise TerminalUnavailable(self.last_error or "terminal not connected")
        if not self.breaker.allow():
            raise TerminalUnavailable(f"breaker {self.breaker.state}: {self.last_error}")
        try:
            result, (code, text) = await self._invoke(name, *args, **kwargs)
        except Exception as exc:
            self._failed(f"{name} raised {type(exc).__name__}: {exc}", disconnected=False)
            raise TerminalUnavailable(self.last_error) from exc
        if result is None:
            if empty_ok and code == RES_S_OK:
                self.breaker.record_success()
                return None
            self._failed(f"{name}: {code} {text}", disconnected=code in DISCONNECTED_CODES)
            raise TerminalUnavailable(self.last_error)
        self.breaker.record_success()
        return result

    async def order_send(self, request: dict[str, Any]) -> tuple[Any, tuple[int, str]]:
        """`order_send` without raising on None: (result or None, last_error)."""
        if not self.connected or not self.breaker.allow():
            raise TerminalUnavailable(self.last_error or f"breaker {self.breaker.state}")
        try:
            result, error = await self._invoke("order_send", request)
        except Exception as exc:
            self._failed(f"order_send raised {type(exc).__name__}: {exc}", disconnected=False)
            raise TerminalUnavailable(self.last_error) from exc
        if result is None:
            if error[0] in DISCONNECTED_CODES:
                self._failed(f"order_send: {error[0]} {error[1]}", disconnected=True)
            return None, error
        self.breaker.record_success()
        return result, (RES_S_OK, "Success")

    async def set_trading_state(self, state: str) -> bool:
        """Tell a terminal that listens (the simulator's scripted trader) the account's trading
        state; False when the terminal has no such hook (a real terminal)."""
        hook = getattr(self.terminal, "set_trading_state", None)
        if hook is None:
            return False
        return bool(await hook(state) is not False)

    async def close(self) -> None:
        if not self.connected:
            return
        self.connected = False
        try:
            await asyncio.wait_for(self.terminal.shutdown(), timeout=3)
        except Exception:
            log.debug("terminal shutdown failed", exc_info=True)

    def _failed(self, error: str, *, disconnected: bool) -> None:
        self.failures += 1
        self.last_error = error
        self.breaker.record_failure()
        if disconnected or self.breaker.state == "open":
            if self.connected:
                log.warning("terminal connection lost: %s", error)
            self.connected = False
            self._next_attempt = self._clock() + self.backoff.next_delay()

    async def _error(self) -> tuple[int, str]:
        try:
            code, text = await self.terminal.last_error()
            return int(code), str(text)
        except Exception as exc:  # noqa: BLE001
            return -1, f"last_error raised {type(exc).__name__}"

    async def _timed(self, awaitable: Any) -> Any:
        started = self._clock()
        try:
            return await awaitable
        finally:
            self._record_latency(started)

    def _record_latency(self, started: float) -> None:
        now = self._clock()
        elapsed = (now - started) * 1000.0
        self.latency_ms = elapsed if self.latency_ms == 0 else 0.8 * self.latency_ms + 0.2 * elapsed
        if elapsed > self._slow_ms and now - self._slow_logged > 10:
            self._slow_logged = now
            log.warning("slow terminal call: %.0f ms", elapsed)
