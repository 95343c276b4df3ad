"""The event-counters view of the library's projection tests, kept in JetStream."""

from __future__ import annotations

from eventsourcing.persistence import Tracking
from eventsourcing.tests.projection import EventCountersView

from bus.eventstore.batching import Message
from bus.eventstore.recorders import JetStreamTrackingRecorder


class JetStreamEventCounters(JetStreamTrackingRecorder, EventCountersView):
    """Each counter is the last message on `<prefix>.counters.<name>`; every increment
    is committed in one atomic batch with its tracking record."""

    def _counter_subject(self, name: str) -> str:
        return f"{self.subjects.prefix}.counters.{name}"

    async def _count(self, name: str) -> int:
        msg = await self.runtime.direct.last(self.stream, self._counter_subject(name))
        return int(msg.data) if msg is not None else 0

    def _get(self, name: str) -> int:
        count: int = self.call(lambda: self._count(name))
        return count

    def _incr(self, name: str, tracking: Tracking) -> None:
        async def incr() -> None:
            value = await self._count(name) + 1
            message: Message = (self._counter_subject(name), {}, str(value).encode())
            await self._publish_with_tracking([message], tracking)

        self.call(incr)

    def get_created_event_counter(self) -> int:
        return self._get("created")

    def get_subsequent_event_counter(self) -> int:
        return self._get("subsequent")

    def incr_created_event_counter(self, tracking: Tracking) -> None:
        self._incr("created", tracking)

    def incr_subsequent_event_counter(self, tracking: Tracking) -> None:
        self._incr("subsequent", tracking)
