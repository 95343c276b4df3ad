"""Live updates: decisions from the RISK stream and status from the `mtq_status` KV bucket.

One ordered push consumer follows `risk.events.>` and one KV watcher follows every
account's status; each message is fanned out to the server-sent-event subscribers (each
with its own bounded queue and account filter) and to the alerter. A subscriber that falls
behind by a whole queue is dropped (its stream ends; the browser reconnects).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.kv import KeyValue

from bus import subjects

log = logging.getLogger(__name__)

QUEUE_SIZE: Final = 1000
DecisionSink = Callable[[str, dict[str, Any], int], None]
StatusSink = Callable[[dict[str, Any]], None]


@dataclass(eq=False)
class Subscriber:
    accounts: frozenset[str]
    queue: asyncio.Queue[tuple[str, str] | None] = field(
        default_factory=lambda: asyncio.Queue(QUEUE_SIZE)
    )

    def wants(self, account_id: str) -> bool:
        return not self.accounts or account_id in self.accounts


class LiveHub:
    """Fans events out to SSE subscribers."""

    def __init__(self) -> None:
        self.subscribers: set[Subscriber] = set()
        self.sent = 0
        self.dropped = 0

    def subscribe(self, accounts: Iterable[str] = ()) -> Subscriber:
        sub = Subscriber(frozenset(accounts))
        self.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)

    def publish(self, event: str, account_id: str, data: dict[str, Any]) -> None:
        text = ""
        for sub in list(self.subscribers):
            if not sub.wants(account_id):
                continue
            text = text or json.dumps(data, separators=(",", ":"), default=str)
            try:
                sub.queue.put_nowait((event, text))
                self.sent += 1
            except asyncio.QueueFull:
                self.dropped += 1
                self.subscribers.discard(sub)
                _end(sub)

    def close(self) -> None:
        """End every stream (shutdown)."""
        for sub in list(self.subscribers):
            _end(sub)
        self.subscribers.clear()


def _end(sub: Subscriber) -> None:
    with contextlib.suppress(asyncio.QueueFull):
        sub.queue.put_nowait(None)
    if sub.queue.full():  # make room for the end marker
        with contextlib.suppress(asyncio.QueueEmpty):
            sub.queue.get_nowait()
        with contextlib.suppress(asyncio.QueueFull):
            sub.queue.put_nowait(None)


class LiveFeed:
    """Follows RISK decisions and KV status on `nc` and hands them to the sinks."""

    def __init__(self, nc: Client, on_decision: DecisionSink, on_status: StatusSink) -> None:
        self.nc = nc
        self.on_decision = on_decision
        self.on_status = on_status
        self._sub: Any = None
        self._watch: asyncio.Task[None] | None = None
        self.decisions = 0
        self.statuses = 0
        self.started = False

    async def start(self, after_seq: int | None) -> None:
        """Follow decisions after `after_seq` (None: only new ones) and every status."""
        js = self.nc.jetstream()
        if after_seq is None:
            config = ConsumerConfig(deliver_policy=DeliverPolicy.NEW)
        else:
            config = ConsumerConfig(
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=after_seq + 1
            )
        self._sub = await js.subscribe(
            f"{subjects.RISK_PREFIX}.events.>",
            stream=subjects.STREAM_RISK,
            ordered_consumer=True,
            config=config,
            cb=self._decision,
        )
        kv = await js.key_value(subjects.KV_STATUS)
        self._watch = asyncio.create_task(self._follow(kv), name="api-status-watch")
        self.started = True

    async def _decision(self, msg: Msg) -> None:
        kind = msg.subject.rsplit(".", 1)[-1]
        try:
            body = json.loads(msg.data)
            seq = msg.metadata.sequence.stream
            if not isinstance(body, dict) or "account_id" not in body:
                return
            self.decisions += 1
            self.on_decision(kind, body, seq)
        except Exception:
            log.exception("live feed: decision %s not handled", msg.subject)

    async def _follow(self, kv: KeyValue) -> None:
        while True:
            try:
                watcher = await kv.watchall()
                async for entry in watcher:
                    if entry is None or entry.value is None:
                        continue
                    self._status(entry.value)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - NATS down: watch again shortly
                log.debug("status watch ended: %r", exc)
                await asyncio.sleep(1.0)

    def _status(self, data: bytes) -> None:
        try:
            doc = json.loads(data)
        except ValueError:
            return
        if isinstance(doc, dict) and "account_id" in doc:
            self.statuses += 1
            try:
                self.on_status(doc)
            except Exception:
                log.exception("live feed: status of %s not handled", doc.get("account_id"))

    async def stop(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(BaseException):
                await self._watch
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
