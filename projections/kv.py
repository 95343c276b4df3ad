"""The status view mirrored to the `mtq_status` KV bucket, one key per account.

Each committed change is put at once (as of now: heartbeats that stopped show UNHEALTHY),
and every second the mirror looks again, so an agent that went silent shows within a
second of its heartbeat timeout. Unchanged documents are not put again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from nats.js.kv import KeyValue

from config.models import HEARTBEAT_TIMEOUT_S
from projections.settings import AccountSettings
from projections.status import overlay_now
from projections.views import dumps, loads

log = logging.getLogger(__name__)


class StatusMirror:
    def __init__(
        self,
        kv: KeyValue,
        settings: Mapping[str, AccountSettings],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.kv = kv
        self.settings = settings
        self.clock = clock
        self._last: dict[str, bytes] = {}
        self._docs: dict[str, dict[str, Any]] = {}
        self.puts = 0

    def _render(self, doc: dict[str, Any]) -> bytes:
        found = self.settings.get(doc["account_id"])
        timeout = HEARTBEAT_TIMEOUT_S if found is None else found.heartbeat_timeout_s
        return dumps(overlay_now(doc, self.clock(), timeout)).encode()

    async def publish(self, docs: list[dict[str, Any]]) -> None:
        """Put the documents that differ from what the bucket holds."""
        puts = []
        for given in docs:
            account_id = given["account_id"]
            doc = loads(dumps(given))  # as committed, not as it goes on changing
            self._docs[account_id] = doc
            data = self._render(doc)
            if self._last.get(account_id) != data:
                self._last[account_id] = data
                puts.append(self.kv.put(account_id, data))
        if puts:
            await asyncio.gather(*puts)
            self.puts += len(puts)

    async def refresh_forever(self, stop: asyncio.Event, every_s: float = 1.0) -> None:
        """Re-render every known account each `every_s` (staleness is a matter of time)."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=every_s)
            try:
                await self.publish(list(self._docs.values()))
            except Exception as exc:  # noqa: BLE001 - NATS down: the next round retries
                log.debug("status mirror refresh failed: %r", exc)
                self._last.clear()
