"""Reading the notification log through consumer cursors (pages of 100 and more)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from eventsourcing.persistence import Notification, StoredEvent, Tracking

from bus.embedded import EmbeddedNatsServer
from bus.eventstore.recorders import CURSOR_MIN, JetStreamProcessRecorder
from bus.eventstore.settings import Settings
from tests.conformance.support import delete_stream, unique_stream

pytestmark = pytest.mark.nats

EVENTS = 350


@pytest.fixture
def recorder(nats_server: EmbeddedNatsServer) -> Iterator[JetStreamProcessRecorder]:
    """A log of EVENTS events with tracking records between them (gaps in the ids)."""
    stream = unique_stream()
    store = JetStreamProcessRecorder(
        Settings(url=nats_server.url, stream=stream, prefix=f"{stream.lower()}.app")
    )
    for n in range(1, EVENTS + 1):
        topic = "tests:Even" if n % 2 == 0 else "tests:Odd"
        stored = StoredEvent(uuid.uuid4(), 1, topic, b'{"n":%d}' % n)
        tracking = Tracking("upstream", n) if n % 7 == 0 else None
        store.insert_events([stored], tracking=tracking)
    yield store
    delete_stream(nats_server.url, stream)


def pages(recorder: JetStreamProcessRecorder, size: int, **kwargs: object) -> list[Notification]:
    found: list[Notification] = []
    start = None
    while True:
        page = recorder.select_notifications(start, size, inclusive_of_start=False, **kwargs)  # type: ignore[arg-type]
        found.extend(page)
        if len(page) < size:
            return found
        start = page[-1].id


def test_log_when_paged_through_cursors_then_same_as_direct_gets(
    recorder: JetStreamProcessRecorder,
) -> None:
    through_direct_gets = pages(recorder, CURSOR_MIN - 1)
    through_cursors = pages(recorder, CURSOR_MIN)

    assert len(through_cursors) == EVENTS
    assert through_cursors == through_direct_gets
    assert [n.state for n in through_cursors] == [b'{"n":%d}' % n for n in range(1, EVENTS + 1)]
    ids = [n.id for n in through_cursors]
    assert ids == sorted(ids)
    assert ids[-1] > EVENTS  # tracking records took ids in between


def test_log_when_read_with_stop_and_topics_then_cursor_results_respect_them(
    recorder: JetStreamProcessRecorder,
) -> None:
    everything = recorder.select_notifications(None, 1000)
    stop = everything[199].id

    until_stop = recorder.select_notifications(None, 1000, stop=stop)
    evens = recorder.select_notifications(None, 150, topics=["tests:Even"])
    from_middle = recorder.select_notifications(everything[100].id, 200)

    assert until_stop == everything[:200]
    assert evens == [n for n in everything if n.topic == "tests:Even"][:150]
    assert from_middle == everything[100:300]


def test_log_when_cursor_consumer_vanished_then_next_page_still_read(
    recorder: JetStreamProcessRecorder,
) -> None:
    first = recorder.select_notifications(None, 200)
    consumers = [
        name for key, name in recorder.runtime.log._cursors.items() if key[0] == recorder.stream
    ]
    assert len(consumers) == 1

    async def delete() -> None:
        js = (await recorder.runtime.client()).jetstream()
        await js.delete_consumer(recorder.stream, consumers[0])

    recorder.call(delete)
    second = recorder.select_notifications(first[-1].id, 200, inclusive_of_start=False)

    assert [n.state for n in [*first, *second]] == [b'{"n":%d}' % n for n in range(1, EVENTS + 1)]
