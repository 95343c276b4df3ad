"""Read the MT5 facts the engine decides, in stream order, from any sequence on."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Final

from nats.aio.msg import Msg
from nats.js import api
from nats.js.client import JetStreamContext

from bus import subjects

log = logging.getLogger(__name__)

RISK_FACT_SUBJECTS: Final = (
    "mt5.*.position.*",
    "mt5.*.account",
    "mt5.*.order.*",
    "mt5.*.lifecycle",
)
"""What the engine follows: not ticks (own stream), not heartbeats."""


@dataclass(frozen=True, slots=True)
class RawFact:
    seq: int
    subject: str
    data: bytes
    headers: dict[str, str] | None


class FactReader:
    """An ephemeral pull consumer (no acks, memory state) re-created after any failure.

    Position is the reader's own: `next_seq` is the next stream sequence wanted, so a lost
    consumer (server restart, reconnect) resumes exactly where delivery stopped.
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
        self._stream = stream
        self._filters = filters
        self._batch = batch
        self._sub: JetStreamContext.PullSubscription | None = None
        self._consumer: str | None = None
        self.pending: int | None = None
        """Messages left on the filters after the last fetch (None: not known yet)."""

    async def fetch(self, wait_s: float) -> list[RawFact]:
        """The next facts (up to one batch); empty after `wait_s` without any."""
        js = self._get_js()
        if js is None:
            return []
        try:
            if self._sub is None:
                self._sub = await self._subscribe(js)
            msgs = await self._sub.fetch(self._batch, timeout=wait_s)
        except TimeoutError:
            return []
        except Exception as exc:  # noqa: BLE001 - consumer lost or reconnecting: rebuild
            log.debug("fact fetch failed (%r); re-creating the consumer", exc)
            await self.close()
            return []
        return self._take(msgs)

    def _take(self, msgs: list[Msg]) -> list[RawFact]:
        facts: list[RawFact] = []
        for msg in msgs:
            seq = msg.metadata.sequence.stream
            if seq < self.next_seq:
                continue  # redelivered after a re-created consumer
            facts.append(RawFact(seq, msg.subject, msg.data, msg.headers))
            self.next_seq = seq + 1
        if msgs:
            self.pending = msgs[-1].metadata.num_pending
        return facts

    async def _subscribe(self, js: JetStreamContext) -> JetStreamContext.PullSubscription:
        config = api.ConsumerConfig(
            filter_subjects=list(self._filters),
            ack_policy=api.AckPolicy.NONE,
            deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=self.next_seq,
            mem_storage=True,
            inactive_threshold=30.0,
            max_waiting=4,
        )
        info = await js.add_consumer(self._stream, config=config)
        self._consumer = info.name
        return await js.pull_subscribe_bind(
            consumer=info.name, stream=self._stream, pending_msgs_limit=-1
        )

    async def close(self) -> None:
        sub, self._sub = self._sub, None
        if sub is not None:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        self._consumer = None


async def read_facts(
    js: JetStreamContext,
    *,
    until_seq: int,
    filters: tuple[str, ...] = RISK_FACT_SUBJECTS,
    progress: Callable[[int], None] | None = None,
) -> AsyncIterator[RawFact]:
    """Every fact on `filters` from the start of MT5 up to `until_seq`, in order."""
    reader = FactReader(lambda: js, 1, filters=filters)
    idle = 0
    try:
        while reader.next_seq <= until_seq and idle < 3:
            batch = await reader.fetch(1.0)
            idle = 0 if batch else idle + 1
            for raw in batch:
                if raw.seq > until_seq:
                    return
                yield raw
            if progress is not None and batch:
                progress(batch[-1].seq)
            if reader.pending == 0:
                return
    finally:
        await reader.close()
