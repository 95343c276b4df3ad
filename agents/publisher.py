"""Publish facts to JetStream in order, through the outbox whenever NATS is not keeping up."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from nats.js.client import JetStreamContext

from agents.nats_link import NatsLink
from agents.outbox import Outbox, OutgoingFact, StoredFact

log = logging.getLogger(__name__)

MSG_ID = "Nats-Msg-Id"


@dataclass
class PublisherStats:
    published: int = 0
    direct: int = 0
    from_outbox: int = 0
    failures: int = 0


class FactPublisher:
    """Single writer to JetStream for one agent.

    Ticks are handed over in memory (`submit`) and published directly while the outbox is
    empty and NATS is up; otherwise, and for anything whose ack does not come back, they go
    to the outbox. Position, account and order facts are written to the outbox by the agent
    (in the same SQLite transaction as its state) and drained here, oldest first. Every
    message carries its Nats-Msg-Id, so a replay after a lost ack is a duplicate JetStream
    drops.
    """

    def __init__(
        self,
        link: NatsLink,
        outbox: Outbox,
        *,
        batch_size: int = 500,
        ack_timeout: float = 3.0,
        on_published: Callable[[Sequence[OutgoingFact | StoredFact], float], None] | None = None,
    ) -> None:
        self.link = link
        self.outbox = outbox
        self.batch_size = batch_size
        self.ack_timeout = ack_timeout
        self.stats = PublisherStats()
        self._queue: deque[OutgoingFact] = deque()
        self._wake = asyncio.Event()
        self._on_published = on_published
        self.last_error = ""

    @property
    def pending(self) -> int:
        """Facts not yet acknowledged: in memory plus in the outbox."""
        return len(self._queue) + len(self.outbox)

    @property
    def queued(self) -> int:
        """Facts handed over in memory and not yet routed."""
        return len(self._queue)

    def submit(self, fact: OutgoingFact) -> None:
        self._queue.append(fact)
        self._wake.set()

    def submit_many(self, facts: Sequence[OutgoingFact]) -> None:
        if facts:
            self._queue.extend(facts)
            self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Publish until `stop`; then flush what can be flushed quickly."""
        while not stop.is_set():
            if not self._queue and (not len(self.outbox) or not self.link.connected):
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=0.5)
                continue
            await self.step()
        await self.flush(deadline=time.monotonic() + 2.0)

    async def step(self) -> None:
        """One round: drain a slice of the outbox, then route what is queued in memory."""
        js = self.link.js
        if self.link.connected and js is not None and len(self.outbox):
            ok = await self._drain_once(js)
            if not ok:
                await asyncio.sleep(0.2)
        batch = self._take_batch()
        if not batch:
            return
        if self.link.connected and js is not None and not len(self.outbox):
            failed = await self._publish(js, batch)
            self.stats.direct += len(batch) - len(failed)
            if failed:
                self.outbox.append(failed)
        else:
            self.outbox.append(batch)

    async def flush(self, deadline: float) -> None:
        """Publish or store everything pending (used on stop)."""
        batch = list(self._queue)
        self._queue.clear()
        if batch:
            self.outbox.append(batch)
        js = self.link.js
        while len(self.outbox) and self.link.connected and js and time.monotonic() < deadline:
            if not await self._drain_once(js):
                break

    def _take_batch(self) -> list[OutgoingFact]:
        n = min(len(self._queue), self.batch_size)
        return [self._queue.popleft() for _ in range(n)]

    async def _drain_once(self, js: JetStreamContext) -> bool:
        rows = self.outbox.peek(self.batch_size)
        if not rows:
            return True
        failed = await self._publish(js, rows)
        acked = len(rows) - len(failed)
        if acked:
            self.outbox.remove_through(rows[acked - 1].seq)
            self.stats.from_outbox += acked
        return not failed

    async def _publish(
        self, js: JetStreamContext, facts: Sequence[OutgoingFact] | Sequence[StoredFact]
    ) -> list[OutgoingFact]:
        """Publish in order; return the facts from the first unacknowledged one on."""
        futures: list[asyncio.Future[Any]] = []
        try:
            for fact in facts:
                fut = await js.publish_async(
                    fact.subject, fact.payload, headers={MSG_ID: fact.msg_id}, wait_stall=1.0
                )
                futures.append(fut)
        except Exception as exc:  # noqa: BLE001 - disconnect mid-batch: the rest stays queued
            self._note_error(f"publish failed: {type(exc).__name__}: {exc}")
        if futures:
            await asyncio.wait(futures, timeout=self.ack_timeout)
        acked, first_error = 0, None
        for i, fut in enumerate(futures):
            if not fut.done():
                fut.cancel()
                continue
            error = None if fut.cancelled() else fut.exception()  # retrieves every exception
            if error is not None and first_error is None:
                first_error = error
            if error is None and not fut.cancelled() and acked == i:
                acked += 1
        if acked < len(facts):
            why = f"not acknowledged: {first_error!r}" if first_error else "ack timed out"
            self._note_error(f"publish {why}")
        self.stats.published += acked
        if acked and self._on_published is not None:
            self._on_published(facts[:acked], time.time())
        if acked == len(facts):
            return []
        self.stats.failures += 1
        return [_as_outgoing(f) for f in facts[acked:]]

    def _note_error(self, error: str) -> None:
        if error != self.last_error:
            log.warning("%s", error)
        self.last_error = error


def _as_outgoing(fact: OutgoingFact | StoredFact) -> OutgoingFact:
    if isinstance(fact, OutgoingFact):
        return fact
    return OutgoingFact(fact.subject, fact.msg_id, fact.payload)
