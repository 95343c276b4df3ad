"""Publish facts to JetStream in order, through the outbox whenever NATS is not keeping up."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from agents.js_acks import AckInbox
from agents.nats_link import NatsLink
from agents.outbox import PRIORITY_TICK, Outbox, OutgoingFact, StoredFact

log = logging.getLogger(__name__)

TICK_S = 0.25
"""How often the publisher looks at ack deadlines and the connection when nothing wakes it."""


@dataclass
class PublisherStats:
    published: int = 0
    direct: int = 0
    from_outbox: int = 0
    failures: int = 0
    ticks_unacked: int = 0
    """Ticks published directly without an ack (counted in `published` and `direct`)."""
    duplicates: int = 0
    """Acked facts other than ticks that JetStream had already stored (a re-send: e.g. an
    outbox replay after a crash); a regression to "re-publish everything" shows here."""
    last_duplicate: str = ""
    tick_duplicates: int = 0
    """Ticks JetStream had already (only those sent with acks, i.e. through the outbox)."""


class FactPublisher:
    """Single writer to JetStream for one agent.

    Ticks and account snapshots are handed over in memory (`submit`) and published directly
    while the outbox is empty and NATS is up. Ticks go without an ack (market data the
    terminal can give again; the MT5_TICKS stream is in memory): a tick sent just before a
    disconnect or a server crash can be lost. Every other fact keeps its ack, with up to
    `window` publishes awaiting acks at a time (a sliding window: acks are taken in order as
    they arrive, without pausing the stream).
    Otherwise, and for anything whose ack does not come back, they go to the outbox. Before
    anything is routed to the outbox the window is settled first, so facts on one subject
    keep their order. Position, account and order facts are written to the outbox by the
    agent (in the same SQLite transaction as its state) and drained here, oldest first.
    Every message carries its Nats-Msg-Id, so a replay after a lost ack is a duplicate
    JetStream drops.
    """

    def __init__(
        self,
        link: NatsLink,
        outbox: Outbox,
        *,
        batch_size: int = 500,
        window: int = 1_000,
        memory_limit: int = 5_000,
        ack_timeout: float = 3.0,
        on_published: Callable[[Sequence[OutgoingFact | StoredFact], float], None] | None = None,
    ) -> None:
        self.link = link
        self.outbox = outbox
        self.batch_size = batch_size
        self.window = window
        self.memory_limit = memory_limit
        self.ack_timeout = ack_timeout
        self.stats = PublisherStats()
        self._queue: deque[OutgoingFact] = deque()
        self._inflight: deque[tuple[OutgoingFact, asyncio.Future[Any], float]] = deque()
        self._wake = asyncio.Event()
        self._on_published = on_published
        self._direct_paused_until = 0.0
        self._watched: asyncio.Future[Any] | None = None
        self._ack_inbox: AckInbox | None = None
        self.last_error = ""

    @property
    def pending(self) -> int:
        """Facts not yet acknowledged: in memory, in flight and in the outbox."""
        return len(self._queue) + len(self._inflight) + len(self.outbox)

    @property
    def queued(self) -> int:
        """Facts handed over in memory and not yet acknowledged or stored."""
        return len(self._queue) + len(self._inflight)

    def submit(self, fact: OutgoingFact) -> None:
        self._queue.append(fact)
        self._wake.set()

    def submit_many(self, facts: Sequence[OutgoingFact]) -> None:
        if facts:
            self._queue.extend(facts)
            self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    def _acks(self) -> AckInbox:
        """The ack inbox on the link's client (made on first use, kept across reconnects)."""
        nc = self.link.nc
        assert nc is not None
        if self._ack_inbox is None or self._ack_inbox.nc is not nc:
            self._ack_inbox = AckInbox(nc)
        return self._ack_inbox

    def _on_ack(self, _: asyncio.Future[Any]) -> None:
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Publish until `stop`; then flush what can be flushed quickly."""
        ticker = asyncio.create_task(self._ticker(stop), name="publisher-ticker")
        try:
            await self._run(stop)
        finally:
            ticker.cancel()
        await self.flush(deadline=time.monotonic() + 2.0)

    async def _ticker(self, stop: asyncio.Event) -> None:
        """Wake the loop now and then: ack deadlines, reconnects and `stop` are noticed
        without a timer per wait."""
        while not stop.is_set():
            await asyncio.sleep(TICK_S)
            self._wake.set()
        self._wake.set()

    async def _run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            if self._direct_ok():
                self._wake.clear()  # before looking: an ack or submit from now on wakes us
                self._reap()
                if self._failed_front():
                    await self._settle()
                    continue
                sent = await self._send_window()
                if not sent:
                    await self._wake.wait()
                elif sent >= self.batch_size:
                    await asyncio.sleep(0)  # a long queue: let the poll loop and acks in
                continue
            if self._inflight:
                await self._settle()
                continue
            if not self._queue and (not len(self.outbox) or not self.link.connected):
                self._wake.clear()
                await self._wake.wait()
                continue
            await self.step()

    def _direct_ok(self) -> bool:
        """Direct publishing: connected and nothing older waiting in the outbox."""
        return (
            self.link.connected
            and self.link.js is not None
            and not len(self.outbox)
            and time.monotonic() >= self._direct_paused_until
        )

    async def _send_window(self) -> int:
        """Publish queued facts (at most `batch_size`) while the window has room for those
        that wait for acks; how many were sent."""
        acks = self._acks()
        queue, inflight = self._queue, self._inflight
        deadline = time.monotonic() + self.ack_timeout
        fired: list[OutgoingFact] = []
        sent = 0
        fut = None
        try:
            while queue and sent < self.batch_size:
                fact = queue[0]
                if fact.priority == PRIORITY_TICK:
                    await acks.send(fact.subject, fact.payload, fact.msg_id)
                    queue.popleft()
                    fired.append(fact)
                elif len(inflight) < self.window:
                    fut = await acks.publish(fact.subject, fact.payload, fact.msg_id)
                    queue.popleft()
                    inflight.append((fact, fut, deadline))
                else:
                    break
                sent += 1
        except Exception as exc:  # noqa: BLE001 - the rest goes the outbox way for a moment
            self._note_error(f"publish failed: {type(exc).__name__}: {exc}")
            self._direct_paused_until = time.monotonic() + 0.2
        if fired:
            self._count_published(fired)
            self.stats.ticks_unacked += len(fired)
        if fut is not None:
            # Acks come back in order: waking when the burst's last one is in is enough
            # (a failure earlier in it is found then, a missing ack by its deadline).
            fut.add_done_callback(self._on_ack)
        return sent

    def _count_published(self, done: Sequence[OutgoingFact]) -> None:
        self.stats.published += len(done)
        self.stats.direct += len(done)
        if self._on_published is not None:
            self._on_published(done, time.time())

    def _reap(self) -> None:
        """Take acknowledged facts off the front of the window, in order."""
        inflight = self._inflight
        done: list[OutgoingFact] = []
        while inflight:
            fact, fut, _ = inflight[0]
            if not fut.done() or fut.cancelled() or fut.exception() is not None:
                break
            inflight.popleft()
            done.append(fact)
            if fut.result().duplicate:
                self._duplicate(fact)
        if inflight and inflight[0][1] is not self._watched:
            # Acks usually arrive in order; if the front is late, wake when it comes.
            self._watched = inflight[0][1]
            self._watched.add_done_callback(self._on_ack)
        if done:
            self._count_published(done)

    def _failed_front(self) -> bool:
        """Whether the oldest fact in flight failed or timed out."""
        if not self._inflight:
            return False
        _, fut, deadline = self._inflight[0]
        return fut.done() or time.monotonic() >= deadline

    async def _settle(self) -> None:
        """Wait out the window; store the first unacknowledged fact and all after it."""
        if not self._inflight:
            return
        futures = [fut for _, fut, _ in self._inflight]
        timeout = max(0.0, self._inflight[-1][2] - time.monotonic())
        await asyncio.wait(futures, timeout=timeout)
        self._reap()
        if not self._inflight:
            return
        failed = [fact for fact, _, _ in self._inflight]
        first_error = None
        for _, fut, _ in self._inflight:
            if not fut.done():
                fut.cancel()
            elif not fut.cancelled() and first_error is None:
                first_error = fut.exception()
        self._inflight.clear()
        if self._ack_inbox is not None:
            self._ack_inbox.forget_done()
        why = f"not acknowledged: {first_error!r}" if first_error else "ack timed out"
        self._note_error(f"publish {why}")
        self.stats.failures += 1
        self.outbox.append(failed)

    async def step(self) -> None:
        """One round: drain a slice of the outbox, then route what is queued in memory.

        While NATS is up and the outbox is draining, newer facts wait in memory (up to
        `memory_limit`) and go out directly once it is empty: moving them through SQLite
        would only slow the drain down.
        """
        js = self.link.js
        if self.link.connected and js is not None and len(self.outbox):
            ok = await self._drain_once()
            if not ok:
                await asyncio.sleep(0.2)
            if self.link.connected and len(self._queue) <= self.memory_limit:
                return
        batch = self._take_batch()
        if not batch:
            return
        if self.link.connected and js is not None and not len(self.outbox):
            failed = await self._publish(batch)
            self.stats.direct += len(batch) - len(failed)
            if failed:
                self.outbox.append(failed)
        else:
            self.outbox.append(batch)

    async def flush(self, deadline: float) -> None:
        """Publish or store everything pending (used on stop)."""
        await self._settle()
        batch = list(self._queue)
        self._queue.clear()
        if batch:
            self.outbox.append(batch)
        js = self.link.js
        while len(self.outbox) and self.link.connected and js and time.monotonic() < deadline:
            if not await self._drain_once():
                break

    def _take_batch(self) -> list[OutgoingFact]:
        n = min(len(self._queue), self.batch_size)
        return [self._queue.popleft() for _ in range(n)]

    async def _drain_once(self) -> bool:
        rows = self.outbox.peek(self.batch_size)
        if not rows:
            return True
        failed = await self._publish(rows)
        acked = len(rows) - len(failed)
        if acked:
            self.outbox.remove_through(rows[acked - 1].seq)
            self.stats.from_outbox += acked
        return not failed

    async def _publish(
        self, facts: Sequence[OutgoingFact] | Sequence[StoredFact]
    ) -> list[OutgoingFact]:
        """Publish in order; return the facts from the first unacknowledged one on."""
        futures: list[asyncio.Future[Any]] = []
        acks = self._acks()
        try:
            for fact in facts:
                futures.append(await acks.publish(fact.subject, fact.payload, fact.msg_id))
        except Exception as exc:  # noqa: BLE001 - disconnect mid-batch: the rest stays queued
            self._note_error(f"publish failed: {type(exc).__name__}: {exc}")
        if futures:
            await asyncio.wait(futures, timeout=self.ack_timeout)
        acked, first_error = self._count_acks(facts, futures)
        if acked < len(facts):
            why = f"not acknowledged: {first_error!r}" if first_error else "ack timed out"
            self._note_error(f"publish {why}")
            acks.forget_done()
        self.stats.published += acked
        if acked and self._on_published is not None:
            self._on_published(facts[:acked], time.time())
        if acked == len(facts):
            return []
        self.stats.failures += 1
        return [_as_outgoing(f) for f in facts[acked:]]

    def _count_acks(
        self,
        facts: Sequence[OutgoingFact] | Sequence[StoredFact],
        futures: list[asyncio.Future[Any]],
    ) -> tuple[int, BaseException | None]:
        """How many facts from the front were acknowledged, and the first error; cancels the
        futures still waiting and retrieves every exception."""
        acked, first_error = 0, None
        for i, fut in enumerate(futures):
            if not fut.done():
                fut.cancel()
                continue
            error = None if fut.cancelled() else fut.exception()
            if error is not None and first_error is None:
                first_error = error
            if error is None and not fut.cancelled() and acked == i:
                acked += 1
                if fut.result().duplicate:
                    self._duplicate(facts[i])
        return acked, first_error

    def _duplicate(self, fact: OutgoingFact | StoredFact) -> None:
        if ":tick:" in fact.msg_id:
            self.stats.tick_duplicates += 1  # a restarted agent's first tick is the last one
            return
        self.stats.duplicates += 1
        self.stats.last_duplicate = fact.msg_id
        log.debug("re-sent %s: JetStream had it already", fact.msg_id)

    def _note_error(self, error: str) -> None:
        if error != self.last_error:
            log.warning("%s", error)
        self.last_error = error


def _as_outgoing(fact: OutgoingFact | StoredFact) -> OutgoingFact:
    if isinstance(fact, OutgoingFact):
        return fact
    return OutgoingFact(fact.subject, fact.msg_id, fact.payload)
