"""Read the MT5 facts the engine decides, in stream order, from any sequence on."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import api
from nats.js.client import JetStreamContext

from bus import subjects

log = logging.getLogger(__name__)

RISK_FACT_SUBJECTS: Final = (subjects.ALL_FACTS,)
"""Everything in MT5 (ticks have a stream of their own); the decider skips heartbeats.

One filter: nats-server delivers a consumer with several filter subjects about four times
slower than one with a single filter on this stream (measured: 16.5k vs 72k messages/s).
"""
BUFFERED: Final = 5_000
"""Facts delivered and not yet taken; past this the consumer waits (flow control)."""


@dataclass(frozen=True, slots=True)
class RawFact:
    seq: int
    subject: str
    data: bytes
    headers: dict[str, str] | None
    stored_ns: int = 0
    """When JetStream stored the fact, in nanoseconds since the Unix epoch (0: unknown)."""

    @property
    def stored_at(self) -> datetime | None:
        if not self.stored_ns:
            return None
        return datetime.fromtimestamp(self.stored_ns / 1e9, UTC)


def _positions(msg: Msg) -> tuple[int, int, int]:
    """Stream sequence, messages pending and store time (ns), from the reply subject.

    `$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<time>.<pending>`;
    other layouts (domains, account hashes) go through nats-py's parser.
    """
    tokens = msg.reply.split(".")
    if len(tokens) == 9:
        return int(tokens[5]), int(tokens[8]), int(tokens[7])
    meta = msg.metadata
    return meta.sequence.stream, meta.num_pending, int(meta.timestamp.timestamp() * 1e9)


class FactReader:
    """An ordered push consumer (no acks, memory state, flow control) from `next_seq` on.

    Position is the reader's own: `next_seq` is the next stream sequence wanted, so a lost
    consumer (server restart, reconnect) is re-created exactly where delivery stopped.
    nats-py's pull `fetch` waits for each message with its own timeout (tens of
    microseconds a message); a push consumer feeding a buffer costs a fraction of that.
    """

    def __init__(
        self,
        get_js: Callable[[], JetStreamContext | None],
        next_seq: int,
        *,
        stream: str = subjects.STREAM_FACTS,
        filters: tuple[str, ...] = RISK_FACT_SUBJECTS,
        batch: int = 1000,
    ) -> None:
        self._get_js = get_js
        self.next_seq = max(1, next_seq)
        self._delivered_seq = self.next_seq - 1
        self._stream = stream
        self._filters = filters
        self._batch = batch
        self._sub: Subscription | None = None
        self._buffer: deque[RawFact] = deque()
        self._ready = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self.pending: int | None = None
        """Messages left on the filters after the last delivered one (None: not known)."""

    async def fetch(self, wait_s: float) -> list[RawFact]:
        """The next facts (up to one batch); empty after `wait_s` without any."""
        if self._sub is None:
            js = self._get_js()
            if js is None:
                await asyncio.sleep(min(wait_s, 0.2))
                return []
            try:
                self._sub = await self._subscribe(js)
            except Exception as exc:  # noqa: BLE001 - stream missing or reconnecting: retry
                log.debug("cannot follow %s yet: %r", self._stream, exc)
                await asyncio.sleep(min(wait_s, 0.5))
                return []
        if not self._buffer:
            self._ready.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ready.wait(), wait_s)
        taken: list[RawFact] = []
        while self._buffer and len(taken) < self._batch:
            fact = self._buffer.popleft()
            if fact.seq >= self.next_seq:
                taken.append(fact)
                self.next_seq = fact.seq + 1
        if len(self._buffer) < BUFFERED:
            self._room.set()
        return taken

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    async def _on_msg(self, msg: Msg) -> None:
        seq, pending, stored_ns = _positions(msg)
        if seq <= self._delivered_seq:
            return  # redelivered after the consumer was re-created
        self._delivered_seq = seq
        self.pending = pending
        self._buffer.append(RawFact(seq, msg.subject, msg.data, msg.headers, stored_ns))
        self._ready.set()
        if len(self._buffer) >= BUFFERED:
            self._room.clear()
            await self._room.wait()

    async def _subscribe(self, js: JetStreamContext) -> Subscription:
        self._delivered_seq = self._buffer[-1].seq if self._buffer else self.next_seq - 1
        start = self._delivered_seq + 1
        config = api.ConsumerConfig(
            filter_subjects=list(self._filters),
            deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=start,
            inactive_threshold=30.0,
        )
        return await js.subscribe(
            "", stream=self._stream, cb=self._on_msg, ordered_consumer=True, config=config,
            pending_msgs_limit=-1, pending_bytes_limit=-1,
        )  # fmt: skip

    async def exhausted(self) -> bool:
        """Nothing is buffered and the server has nothing more on the filters."""
        sub = self._sub
        if self._buffer or not isinstance(sub, JetStreamContext.PushSubscription):
            return False
        try:
            info = await sub.consumer_info()
        except Exception:  # noqa: BLE001 - consumer being re-created: not known
            return False
        delivered = info.delivered.stream_seq if info.delivered is not None else 0
        in_flight = delivered > self._delivered_seq
        return info.num_pending == 0 and not in_flight and not self._buffer

    async def close(self) -> None:
        sub, self._sub = self._sub, None
        self._room.set()
        if sub is not None:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()


async def read_facts(
    js: JetStreamContext,
    *,
    until_seq: int,
    filters: tuple[str, ...] = RISK_FACT_SUBJECTS,
    progress: Callable[[int], None] | None = None,
    from_seq: int = 1,
) -> AsyncIterator[RawFact]:
    """Every fact on `filters` from `from_seq` (the start of MT5) up to `until_seq`, in order."""
    reader = FactReader(lambda: js, from_seq, filters=filters)
    idle = 0
    try:
        while reader.next_seq <= until_seq and idle < 3:
            batch = await reader.fetch(0.2 if idle == 0 else 1.0)
            if not batch and await reader.exhausted():
                return
            idle = 0 if batch else idle + 1
            for raw in batch:
                if raw.seq > until_seq:
                    return
                yield raw
            if progress is not None and batch:
                progress(batch[-1].seq)
            if batch and reader.pending == 0 and not reader.buffered:
                return
    finally:
        await reader.close()
