"""Group commit: concurrent multi-event inserts sharing one atomic batch on a real server."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent

from bus.embedded import EmbeddedNatsServer
from bus.eventstore import wire
from bus.eventstore.batching import Message
from bus.eventstore.recorders import JetStreamApplicationRecorder
from bus.eventstore.runtime import Runtime
from bus.eventstore.settings import Settings
from tests.conformance.support import delete_stream, unique_stream
from tests.support import eventually_sync

pytestmark = pytest.mark.nats


@pytest.fixture
def recorder(nats_server: EmbeddedNatsServer) -> Iterator[JetStreamApplicationRecorder]:
    stream = unique_stream()
    yield JetStreamApplicationRecorder(
        Settings(url=nats_server.url, stream=stream, prefix=f"{stream.lower()}.app")
    )
    delete_stream(nats_server.url, stream)


def events(originator: uuid.UUID, *versions: int) -> list[StoredEvent]:
    return [StoredEvent(originator, v, "tests:Happened", b'{"v":%d}' % v) for v in versions]


def insert_together(
    recorder: JetStreamApplicationRecorder,
    calls: list[list[StoredEvent]],
    timeout: float | None = None,
) -> list[Any]:
    """Start every call on the loop at once, so they queue for the same batch."""

    async def all_calls() -> list[Any]:
        return await asyncio.gather(
            *(recorder._publish_events([recorder._message(s) for s in c]) for c in calls),
            return_exceptions=True,
        )

    if timeout is not None:
        waited: list[Any] = recorder.runtime.call(all_calls, timeout)
        return waited
    results: list[Any] = recorder.call(all_calls)
    return results


def batch_ids(recorder: JetStreamApplicationRecorder, last_seq: int) -> set[str]:
    async def read() -> set[str]:
        msgs, _ = await recorder.runtime.direct.batch(
            recorder.stream, {"seq": 1, "batch": last_seq}
        )
        return {m.headers.get(wire.H_BATCH_ID, "") for m in msgs}

    found: set[str] = recorder.call(read)
    return found


def test_concurrent_inserts_when_they_queue_together_then_one_batch_with_contiguous_ids(
    recorder: JetStreamApplicationRecorder,
) -> None:
    originators = [uuid.uuid4() for _ in range(5)]

    results = insert_together(recorder, [events(o, 1, 2) for o in originators])

    assert results == [[1, 2], [3, 4], [5, 6], [7, 8], [9, 10]]
    assert len(batch_ids(recorder, 10)) == 1
    for originator in originators:
        assert [e.originator_version for e in recorder.select_events(originator)] == [1, 2]


def test_shared_batch_when_one_call_conflicts_then_only_that_call_fails(
    recorder: JetStreamApplicationRecorder,
) -> None:
    taken = uuid.uuid4()
    recorder.insert_events(events(taken, 1, 2))
    first, last = uuid.uuid4(), uuid.uuid4()

    committer = recorder.runtime.committers[recorder.stream]
    sent = committer.batches

    results = insert_together(
        recorder, [events(first, 1, 2), events(taken, 3, 2), events(last, 1, 2)]
    )

    assert committer.refused_shared == 1  # the three calls really shared one refused batch
    assert committer.last_refused_calls == 3
    assert committer.batches - sent == 1 + 3  # the shared one, then each call alone
    assert results[0] == [3, 4]
    assert isinstance(results[1], IntegrityError)
    assert results[2] == [5, 6]
    assert [e.originator_version for e in recorder.select_events(taken)] == [1, 2]
    assert recorder.max_notification_id() == 6


def test_calls_when_they_write_the_same_version_then_never_share_a_batch(
    recorder: JetStreamApplicationRecorder,
) -> None:
    originator = uuid.uuid4()

    results = insert_together(recorder, [events(originator, 1, 2), events(originator, 1, 2)])

    assert results[0] == [1, 2]
    assert isinstance(results[1], IntegrityError)
    assert [e.originator_version for e in recorder.select_events(originator)] == [1, 2]
    assert recorder.max_notification_id() == 2


def test_threads_when_saving_concurrently_then_every_call_stored_once_and_contiguous(
    recorder: JetStreamApplicationRecorder,
) -> None:
    per_thread, threads = 15, 4
    results: dict[uuid.UUID, list[int]] = {}
    lock = threading.Lock()

    def writer() -> None:
        for _ in range(per_thread):
            originator = uuid.uuid4()
            ids = recorder.insert_events(events(originator, 1, 2, 3))
            assert ids is not None
            with lock:
                results[originator] = list(ids)

    workers = [threading.Thread(target=writer) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)

    assert len(results) == per_thread * threads
    assert all(ids == list(range(ids[0], ids[0] + 3)) for ids in results.values())
    assert sorted(i for ids in results.values() for i in ids) == list(
        range(1, 3 * per_thread * threads + 1)
    )
    assert recorder.max_notification_id() == 3 * per_thread * threads


def test_shared_batch_when_server_stops_inside_the_batch_path_then_every_call_fails_whole(
    fresh_nats_server: EmbeddedNatsServer,
) -> None:
    stream = unique_stream()
    recorder = JetStreamApplicationRecorder(
        Settings(url=fresh_nats_server.url, stream=stream, prefix="faults.batch", timeout=1.0)
    )
    try:
        recorder.insert_events(events(uuid.uuid4(), 1, 2))  # the stream exists, 2 records
        publish = recorder._publish
        stopped: list[int] = []

        async def stop_then_publish(messages: Sequence[Message]) -> list[int]:
            if not stopped:
                stopped.append(len(messages))
                fresh_nats_server.stop()  # the server goes away inside the batch path
            return await publish(messages)

        recorder._publish = stop_then_publish  # type: ignore[method-assign]
        originators = [uuid.uuid4() for _ in range(3)]

        committer = recorder.runtime.committers[stream]
        sent = committer.batches

        results = insert_together(recorder, [events(o, 1, 2) for o in originators], timeout=15)

        assert stopped == [6]  # one batch carried all three calls
        assert committer.batches - sent == 1
        assert committer.failed == 1
        assert all(isinstance(r, Exception) for r in results), results
        assert not any(isinstance(r, IntegrityError) for r in results), results
        recorder._publish = publish  # type: ignore[method-assign]
        fresh_nats_server.start()

        def stored() -> list[list[int]]:
            return [[e.originator_version for e in recorder.select_events(o)] for o in originators]

        assert eventually_sync(lambda: stored() == [[], [], []] or None, timeout=15) is True
        assert recorder.max_notification_id() == 2  # nothing of the failed batch was stored
        again = insert_together(recorder, [events(o, 1, 2) for o in originators])
        assert again == [[3, 4], [5, 6], [7, 8]]
    finally:
        with contextlib.suppress(Exception):
            fresh_nats_server.start()
        delete_stream(fresh_nats_server.url, stream)
        Runtime.discard(fresh_nats_server.url)
