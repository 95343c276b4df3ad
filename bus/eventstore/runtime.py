"""A private asyncio loop thread and one NATS connection per server URL.

The `eventsourcing` library is synchronous and nats-py is asyncio: recorders submit whole
operations (one coroutine each) to this loop and wait for them with a deadline, so a call
never hangs when the server is gone; it fails with the library's `OperationalError`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import nats
from eventsourcing.persistence import OperationalError, ProgrammingError
from nats.aio.client import Client

from bus.connection import redact_url
from bus.eventstore import wire
from bus.eventstore.batching import GroupCommitter
from bus.eventstore.directget import DirectGetClient
from bus.eventstore.logreader import LogReader
from bus.eventstore.syncget import SyncDirectGetClient
from bus.security.client import BadCredentials, BadTlsFiles, ClientAuth

T = TypeVar("T")

RECONNECT_WAIT = 0.25


class Runtime:
    """Event loop thread plus the connections recorders share for one URL."""

    _lock = threading.Lock()
    _instances: dict[tuple[str, ClientAuth], Runtime] = {}

    def __init__(self, url: str, auth: ClientAuth | None = None) -> None:
        self.url = str(url)
        self.shown_url = redact_url(self.url)  # for messages: never a password
        self.auth = auth or ClientAuth()
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._run_loop, name=f"mtq-eventstore-{self.shown_url}", daemon=True
        )
        self._nc: Client | None = None
        self._connecting: asyncio.Lock | None = None
        self._up = asyncio.Event()
        self.direct = DirectGetClient(self.url, self.auth)
        self.reader = SyncDirectGetClient(self.url, wire.READ_HEADERS, self.auth)
        self.log = LogReader(self.reader)
        self.committers: dict[str, GroupCommitter] = {}  # by stream; used on the loop only
        self._thread.start()

    @classmethod
    def for_url(cls, url: str, auth: ClientAuth | None = None) -> Runtime:
        """Return the shared runtime for `url` as `auth`, starting it on first use."""
        chosen = auth or ClientAuth()
        key = (str(url), chosen)
        with cls._lock:
            runtime = cls._instances.get(key)
            if runtime is None:
                runtime = cls(str(url), chosen)
                cls._instances[key] = runtime
            return runtime

    @classmethod
    def discard(cls, url: str) -> None:
        """Close the runtimes for `url` (their connections and loop threads), if any."""
        with cls._lock:
            keys = [k for k in cls._instances if k[0] == str(url)]
            runtimes = [cls._instances.pop(k) for k in keys]
        for runtime in runtimes:
            runtime.close()

    def close(self) -> None:
        """Close the connections and stop the loop thread."""

        async def shutdown() -> None:
            nc = self._nc
            if nc is not None and not nc.is_closed:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(nc.close(), 2.0)
            self.direct.close()

        self.reader.close()
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(5.0)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5.0)

    def _run_loop(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def call(self, make: Callable[[], Coroutine[Any, Any, T]], timeout: float) -> T:
        """Run the coroutine made by `make` on the loop; fail after `timeout` seconds."""
        if threading.current_thread() is self._thread:
            raise ProgrammingError("event store called from its own event loop thread")
        future = asyncio.run_coroutine_threadsafe(make(), self.loop)
        try:
            return future.result(timeout)
        except (TimeoutError, concurrent.futures.TimeoutError) as exc:
            future.cancel()
            raise OperationalError(
                f"NATS at {self.shown_url} did not answer within {timeout:.1f}s"
            ) from exc
        except (OSError, nats.errors.Error) as exc:
            raise OperationalError(f"NATS at {self.shown_url}: {exc!r}") from exc
        except (BadCredentials, BadTlsFiles) as exc:
            raise OperationalError(str(exc)) from None

    def read(self, fn: Callable[[], T]) -> T:
        """Run a blocking read in the calling thread (never the loop thread)."""
        if threading.current_thread() is self._thread:
            raise ProgrammingError("event store called from its own event loop thread")
        try:
            return fn()
        except TimeoutError as exc:
            raise OperationalError(f"NATS at {self.shown_url}: {exc}") from exc
        except OSError as exc:
            raise OperationalError(f"NATS at {self.shown_url}: {exc!r}") from exc

    async def client(self) -> Client:
        """The connected nats-py client; waits for a reconnect instead of queueing writes."""
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            nc = self._nc
            if nc is None or nc.is_closed:
                nc = await nats.connect(
                    servers=[u.strip() for u in self.url.split(",")],
                    **self.auth.nats_options(),
                    connect_timeout=2,
                    allow_reconnect=True,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=RECONNECT_WAIT,
                    error_cb=_quiet,
                    disconnected_cb=_quiet_event,
                    reconnected_cb=self._on_reconnected,
                    closed_cb=_quiet_event,
                )
                self._nc = nc
        while not nc.is_connected:
            # Publishing now would be buffered by nats-py and sent after we have given up:
            # wait for the reconnect instead (the caller's deadline bounds the wait).
            self._up.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._up.wait(), 0.05)
        return nc

    async def _on_reconnected(self) -> None:
        self._up.set()

    def run_soon(self, fn: Callable[[], Awaitable[Any]]) -> None:
        """Schedule a coroutine without waiting for it (used to stop subscriptions)."""

        async def runner() -> None:
            with contextlib.suppress(Exception):
                await fn()

        asyncio.run_coroutine_threadsafe(runner(), self.loop)


async def _quiet(_: Exception) -> None:
    """Connection errors surface as OperationalError on the next call instead."""


async def _quiet_event() -> None:
    """No-op connection event callback."""
