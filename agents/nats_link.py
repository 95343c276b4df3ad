"""The agent's NATS connection: optional at start, retried with backoff, shared or owned."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from nats.aio.client import Client
from nats.js.client import JetStreamContext

from agents.backoff import Backoff
from bus.connection import ConnectSettings, NatsUnavailable, connect
from bus.topology import TopologyConflict, ensure_topology

log = logging.getLogger(__name__)


class NatsLink:
    """Keeps trying to connect until it has a client; nats-py reconnects after that.

    `changed` is called whenever the connection comes up or goes down.
    """

    def __init__(
        self,
        url: str,
        *,
        name: str,
        client: Client | None = None,
        backoff: Backoff | None = None,
        provision: bool = True,
        changed: Callable[[], None] = lambda: None,
    ) -> None:
        self.url = url
        self.name = name
        self.nc: Client | None = client
        self.js: JetStreamContext | None = client.jetstream() if client else None
        self._owned = client is None
        self._backoff = backoff or Backoff(0.2, 5.0, 2.0, 0.2)
        self._provision = provision and client is None
        self._changed = changed
        self.up = asyncio.Event()
        if client is not None and client.is_connected:
            self.up.set()
        self.last_error = ""
        self._closing = False

    @property
    def connected(self) -> bool:
        """Connected and, after a reconnect, provisioned again (`up`): nothing is sent into
        a restarted server before its memory-storage ticks stream exists again."""
        return self.up.is_set() and self.nc is not None and self.nc.is_connected

    async def run(self, stop: asyncio.Event) -> None:
        """Connect (retrying) until connected or stopped."""
        settings = ConnectSettings(url=self.url, name=self.name, connect_timeout=2.0)
        while self.nc is None and not stop.is_set():
            try:
                if settings.with_env_defaults().creds_file:
                    # An mtq identity may neither inspect nor create streams (stream info
                    # would list other accounts): `mtq up` provisions them, also after a
                    # server restart.
                    self._provision = False
                nc = await connect(
                    settings, disconnected_cb=self._on_down, reconnected_cb=self._on_up
                )
            except NatsUnavailable as exc:
                self.last_error = str(exc)
                delay = self._backoff.next_delay()
                if self._backoff.attempts <= 1:
                    log.warning("%s; buffering facts and retrying", exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=delay)
                continue
            if self._provision:
                await self._ensure_topology(nc.jetstream())
            self.nc, self.js = nc, nc.jetstream()
            log.info("connected to NATS at %s", self.url)
            self.last_error = ""
            self.up.set()
            self._changed()

    async def _ensure_topology(self, js: JetStreamContext) -> None:
        try:
            await ensure_topology(js)
        except TopologyConflict as exc:
            log.error("%s", exc)
        except Exception as exc:  # noqa: BLE001 - streams may already exist; publishing tells
            log.warning("could not provision streams: %s", exc)

    async def _on_down(self) -> None:
        self.up.clear()
        if self._closing:
            return
        self.last_error = "NATS disconnected"
        log.warning("NATS connection lost; buffering facts in the outbox")
        self._changed()

    async def _on_up(self) -> None:
        self.last_error = ""
        if self._provision and self.nc is not None:
            # A restarted server has lost the memory-storage MT5_TICKS stream: make it again
            # before the first tick goes out (a shared client's owner provisions instead).
            await self._ensure_topology(self.nc.jetstream())
        self.up.set()
        log.info("NATS connection back")
        self._changed()

    async def close(self) -> None:
        self._closing = True
        if self.nc is not None and self._owned:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.nc.flush(), timeout=1)
            with contextlib.suppress(Exception):
                await self.nc.close()
