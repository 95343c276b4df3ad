"""`ApplicationRecorder.subscribe()` on a JetStream ordered push consumer."""

from __future__ import annotations

import queue
from collections.abc import Sequence
from typing import TYPE_CHECKING

from eventsourcing.persistence import ApplicationRecorder, Notification, Subscription
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription as NatsSubscription
from nats.js.api import ConsumerConfig, DeliverPolicy

from bus.eventstore import wire

if TYPE_CHECKING:
    from bus.eventstore.recorders import JetStreamApplicationRecorder

_STOPPED = None


class JetStreamSubscription(Subscription[ApplicationRecorder]):
    """Yields notifications above `gt` as the server pushes them; blocks when caught up."""

    def __init__(
        self,
        recorder: JetStreamApplicationRecorder,
        gt: int | None = None,
        topics: Sequence[str] = (),
    ) -> None:
        super().__init__(recorder=recorder, gt=gt, topics=topics)
        self._store = recorder
        self._wanted = frozenset(topics)
        self._queue: queue.SimpleQueue[Notification | None] = queue.SimpleQueue()
        self._nats_sub: NatsSubscription | None = None
        self._store.call(self._start)

    async def _start(self) -> None:
        nc = await self._store.runtime.client()
        js = nc.jetstream(timeout=self._store.settings.timeout)
        if self._last_notification_id:
            config = ConsumerConfig(
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                opt_start_seq=self._last_notification_id + 1,
            )
        else:
            config = ConsumerConfig(deliver_policy=DeliverPolicy.ALL)
        self._nats_sub = await js.subscribe(
            self._store.subjects.all(wire.EVENTS),
            stream=self._store.stream,
            ordered_consumer=True,
            config=config,
            cb=self._on_message,
        )

    async def _on_message(self, msg: Msg) -> None:
        headers = msg.headers or {}
        if self._wanted and headers.get(wire.H_TOPIC) not in self._wanted:
            return
        seq = msg.metadata.sequence.stream
        self._queue.put(wire.to_notification(seq, headers, msg.data))

    def stop(self) -> None:
        """Stop delivery; iteration ends with StopIteration."""
        if self._has_been_stopped:
            return
        super().stop()
        self._queue.put(_STOPPED)
        sub = self._nats_sub
        if sub is not None:
            self._store.runtime.run_soon(sub.unsubscribe)

    def __next__(self) -> Notification:
        if self._has_been_stopped:
            raise StopIteration
        item = self._queue.get()
        if item is _STOPPED:
            raise StopIteration
        self._last_notification_id = item.id
        return item
