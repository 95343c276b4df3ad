"""Terminal session: calls through a circuit breaker, reconnect with backoff, latency."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, Final

from agents.backoff import Backoff
from agents.breaker import BreakerState, CircuitBreaker
from agents.terminal.async_terminal import AsyncTerminal
from agents.terminal.mt5 import constants as c
from agents.terminal.port import TerminalUnavailable

__all__ = ["DISCONNECTED_CODES", "TerminalSession", "TerminalUnavailable"]

log = logging.getLogger(__name__)

# last_error() codes that mean the terminal connection itself is gone.
DISCONNECTED_CODES: Final = frozenset(
    {
        c.RES_E_INTERNAL_FAIL_SEND,
        c.RES_E_INTERNAL_FAIL_RECEIVE,
        c.RES_E_INTERNAL_FAIL_INIT,
        c.RES_E_INTERNAL_FAIL_CONNECT,
        c.RES_E_INTERNAL_FAIL_TIMEOUT,
    }
)


class TerminalSession:
    """Owns the terminal connection; every call goes through the breaker and is timed.

    It also owns the account's wanted trading state and pushes it to the terminal (the
    simulator's scripted trader listens; a real terminal has no such hook) on every
    (re)connect and whenever it changes.
    """

    def __init__(
        self,
        terminal: AsyncTerminal,
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
        self.trading_state: str | None = None
        """The wanted trading state (None: nothing to push)."""
        self._pushed_state: str | None = None

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
        self._pushed_state = None
        await self._push_trading_state()
        return True

    async def want_trading_state(self, state: str) -> None:
        """Record the wanted trading state; pushed now when connected, else on connect."""
        self.trading_state = state
        if self.connected:
            await self._push_trading_state()

    async def _push_trading_state(self) -> None:
        state = self.trading_state
        if state is None or state == self._pushed_state:
            return
        try:
            await self.terminal.set_trading_state(state)
        except Exception as exc:  # noqa: BLE001 - the state stays recorded; polling goes on
            log.warning("trading state %s not forwarded to the terminal: %r", state, exc)
        self._pushed_state = state

    async def _invoke(self, name: str, *args: Any, **kwargs: Any) -> tuple[Any, tuple[int, str]]:
        """Call and read last_error atomically (one worker job, or inline on the loop)."""
        terminal = self.terminal
        if terminal.inline:  # a simulator on the loop: no coroutine hops
            started = self._clock()
            try:
                return terminal.invoke_inline(name, *args, **kwargs)
            finally:
                self._record_latency(started)
        result: tuple[Any, tuple[int, str]] = await self._timed(
            terminal.call_with_error(name, *args, **kwargs)
        )
        return result

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
            if empty_ok and code == c.RES_S_OK:
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
        return result, (c.RES_S_OK, "Success")

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
