"""Publish AgentLifecycleChanged facts to JetStream in order, with deterministic ids."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Final

from nats.js.client import JetStreamContext

from bus import subjects
from bus.codec import encode, fact_msg_id
from bus.schemas import AgentLifecycleChanged

log = logging.getLogger(__name__)

MAX_PENDING: Final = 10_000
PUBLISH_TIMEOUT_S: Final = 5.0
RETRY_DELAY_S: Final = 1.0


def lifecycle_msg_id(event: AgentLifecycleChanged) -> str:
    """Id from account, event time, state and restart count: a retry is a duplicate."""
    millis = int(event.time.timestamp() * 1000)
    return fact_msg_id(
        event.account_id, "lifecycle", f"{millis}-{event.state}-{event.restart_count}"
    )


class LifecyclePublisher:
    """Queues events without blocking the caller; a background task stores them in order.

    While JetStream is unreachable events wait in memory (bounded) and are retried; the
    message id makes a retried event a duplicate the server drops.
    """

    def __init__(self, js: JetStreamContext) -> None:
        self._js = js
        self._pending: deque[AgentLifecycleChanged] = deque(maxlen=MAX_PENDING)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._abandon = False
        self.published = 0

    @property
    def pending(self) -> int:
        return len(self._pending)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="lifecycle-publisher")

    def emit(self, event: AgentLifecycleChanged) -> None:
        """Queue `event` for publishing."""
        if len(self._pending) == self._pending.maxlen:
            log.error("lifecycle queue full: dropping %s", self._pending[0])
        self._pending.append(event)
        self._wake.set()

    async def close(self, timeout_s: float = 5.0) -> None:
        """Try to store what is queued within `timeout_s`, then stop."""
        # A flag rather than cancel(): nats-py turns a cancelled request into a timeout,
        # which would swallow the cancellation and leave the task running.
        self._closing = True
        self._wake.set()
        task, self._task = self._task, None
        if task is not None:
            done, _ = await asyncio.wait({task}, timeout=timeout_s)
            if not done:
                self._abandon = True
                task.cancel()
                await asyncio.wait({task}, timeout=1.0)
        if self._pending:
            log.warning("%d lifecycle events not stored at shutdown", len(self._pending))

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            stored = await self._drain()
            if self._abandon or (self._closing and stored):
                return
            if not stored:
                await asyncio.sleep(RETRY_DELAY_S / 4 if self._closing else RETRY_DELAY_S)
                self._wake.set()

    async def _drain(self) -> bool:
        while self._pending:
            event = self._pending[0]
            try:
                await self._js.publish(
                    subjects.lifecycle(event.account_id),
                    encode(event),
                    headers={"Nats-Msg-Id": lifecycle_msg_id(event)},
                    timeout=PUBLISH_TIMEOUT_S,
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - keep the event, retry later
                log.warning(
                    "lifecycle %s %s not stored yet (%d queued): %s",
                    event.account_id,
                    event.state,
                    len(self._pending),
                    exc,
                )
                return False
            if self._pending and self._pending[0] is event:
                self._pending.popleft()
            self.published += 1
        return True
