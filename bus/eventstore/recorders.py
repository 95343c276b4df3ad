"""The four `eventsourcing` recorders on one JetStream stream.

Every record is a message: events at `<prefix>.events.<originator>.<version>.<Type>`,
snapshots at `<prefix>.snapshots.…`, tracking at `<prefix>.tracking.<application>`.
Notification ids are stream sequences. A version is unique because each event is published
with `Nats-Expected-Last-Subject-Sequence: 0` over `<…>.<version>.*`; several messages are
written as one JetStream atomic batch, so a failed check stores nothing.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    DatabaseError,
    IntegrityError,
    Notification,
    OperationalError,
    ProcessRecorder,
    ProgrammingError,
    StoredEvent,
    Subscription,
    Tracking,
    TrackingRecorder,
)

from bus.connection import redact_url
from bus.eventstore import wire
from bus.eventstore.batching import GroupCommitter, Message
from bus.eventstore.directget import DirectGetError, RawMsg
from bus.eventstore.runtime import Runtime
from bus.eventstore.settings import Settings
from bus.eventstore.stream import ensure_stream
from bus.eventstore.subscription import JetStreamSubscription

MAX_BATCH = 1000  # nats-server's limit on messages per atomic batch
READ_BATCH = 1000
CURSOR_MIN = 100  # smaller log reads use direct gets (no consumer to create)
WRONG_LAST_SEQUENCE = 10071
TRACKING_RETRIES = 5


class ConflictError(Exception):
    """The server refused a write because a consistency header was stale."""


class JetStreamStore:
    """What all recorders share: settings, the loop, the stream."""

    def __init__(self, settings: Settings, kind: str = wire.EVENTS) -> None:
        self.settings = settings
        self.kind = kind
        self.stream = settings.stream
        self.subjects = wire.Subjects(settings.prefix)
        self.runtime = Runtime.for_url(settings.url, settings.auth)
        if settings.create_stream:
            self._call(self._ensure_stream)

    async def _ensure_stream(self) -> None:
        await ensure_stream(await self.runtime.client(), self.settings)

    def _call(self, make: Any) -> Any:
        try:
            return self.runtime.call(make, self.settings.timeout)
        except DirectGetError as exc:
            raise OperationalError(str(exc)) from exc
        except ConnectionError as exc:
            raise OperationalError(f"NATS at {redact_url(self.settings.url)}: {exc}") from exc

    def call(self, make: Any) -> Any:
        """Run one coroutine on the event store's loop with the configured deadline."""
        return self._call(make)

    async def _publish(self, messages: Sequence[Message]) -> list[int]:
        """Store `messages` atomically; return their stream sequences."""
        if len(messages) > MAX_BATCH:
            raise ProgrammingError(
                f"cannot store {len(messages)} records atomically: "
                f"a JetStream atomic batch holds at most {MAX_BATCH} messages"
            )
        nc = await self.runtime.client()
        timeout = self.settings.timeout
        if len(messages) == 1:
            subject, headers, data = messages[0]
            reply = await nc.request(subject, data, timeout=timeout, headers=headers)
        else:
            batch_id = uuid.uuid4().hex
            last = len(messages)
            for number, (subject, headers, data) in enumerate(messages[:-1], start=1):
                batch_headers = {
                    **headers,
                    wire.H_BATCH_ID: batch_id,
                    wire.H_BATCH_SEQ: str(number),
                }
                await nc.publish(subject, data, headers=batch_headers)
            subject, headers, data = messages[-1]
            batch_headers = {
                **headers,
                wire.H_BATCH_ID: batch_id,
                wire.H_BATCH_SEQ: str(last),
                wire.H_BATCH_COMMIT: "1",
            }
            reply = await nc.request(subject, data, timeout=timeout, headers=batch_headers)
        ack = json.loads(reply.data)
        error = ack.get("error")
        if error:
            if error.get("err_code") == WRONG_LAST_SEQUENCE:
                raise ConflictError(error.get("description", "wrong last sequence"))
            raise DatabaseError(f"JetStream refused the write: {error}")
        seq = int(ack["seq"])
        return list(range(seq - len(messages) + 1, seq + 1))

    def _direct(self, request: dict[str, Any]) -> tuple[list[RawMsg], int]:
        """One batched direct get, answered on the calling thread."""
        try:
            return self.runtime.read(
                lambda: self.runtime.reader.batch(self.stream, request, self.settings.timeout)
            )
        except DirectGetError as exc:
            raise OperationalError(str(exc)) from exc

    def _last(self, subject_filter: str) -> RawMsg | None:
        """The last message on `subject_filter`, read on the calling thread."""
        try:
            return self.runtime.read(
                lambda: self.runtime.reader.last(self.stream, subject_filter, self.settings.timeout)
            )
        except DirectGetError as exc:
            raise OperationalError(str(exc)) from exc

    def _log(self, subject_filter: str, start: int, count: int) -> tuple[list[RawMsg], bool]:
        """Up to `count` messages from `start` on, and whether there may be more."""
        if count < CURSOR_MIN:
            msgs, pending = self._direct(
                {"seq": start, "batch": count, "next_by_subj": subject_filter}
            )
            return msgs, pending > 0
        try:
            msgs = self.runtime.read(
                lambda: self.runtime.log.read(
                    self.stream, subject_filter, start, count, self.settings.timeout
                )
            )
        except DirectGetError as exc:
            raise OperationalError(str(exc)) from exc
        return msgs, len(msgs) == count

    def _read_originator(self, subject_filter: str) -> list[RawMsg]:
        """Every record of one aggregate: one subject per version, so the last message of
        each subject is all of them (the server answers `multi_last` from its subject
        index, far faster than scanning with `next_by_subj` in a stream of many subjects)."""
        try:
            msgs, _ = self._direct({"multi_last": [subject_filter], "batch": READ_BATCH})
        except OperationalError as exc:
            if not isinstance(exc.__cause__, DirectGetError):
                raise
            return self._read(subject_filter, 1, 1 << 62)  # e.g. a server limit on multi_last
        if len(msgs) < READ_BATCH:
            return msgs
        return self._read(subject_filter, 1, 1 << 62)

    def _read(self, subject_filter: str, start: int, limit: int) -> list[RawMsg]:
        """Up to `limit` messages on `subject_filter` from sequence `start` on."""
        found: list[RawMsg] = []
        while len(found) < limit:
            want = min(limit - len(found), READ_BATCH)
            msgs, pending = self._direct(
                {"seq": start, "batch": want, "next_by_subj": subject_filter}
            )
            found.extend(msgs)
            if not msgs or not pending:
                break
            start = msgs[-1].seq + 1
        return found


class JetStreamAggregateRecorder(JetStreamStore, AggregateRecorder):
    """Aggregate events (or snapshots, with kind="snapshots") in their own subjects."""

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        self._insert(stored_events, kwargs.get("tracking"))
        return None

    def _insert(self, stored_events: Sequence[StoredEvent], tracking: Tracking | None) -> list[int]:
        seen = {(str(s.originator_id), s.originator_version) for s in stored_events}
        if len(seen) < len(stored_events):
            raise IntegrityError(f"stored events are not unique: {stored_events}")
        messages = [self._message(s) for s in stored_events]
        if tracking is None:
            if not messages:
                return []
            return list(self._call(lambda: self._publish_events(messages)))
        return list(self._call(lambda: self._publish_with_tracking(messages, tracking)))

    def _message(self, stored: StoredEvent) -> Message:
        headers = wire.event_headers(stored)
        headers[wire.H_EXPECTED_SUBJECT_SEQ] = "0"
        headers[wire.H_EXPECTED_SUBJECT] = self.subjects.version_filter(
            self.kind, stored.originator_id, stored.originator_version
        )
        subject = self.subjects.record(
            self.kind, stored.originator_id, stored.originator_version, stored.topic
        )
        return subject, headers, stored.state

    async def _publish_events(self, messages: list[Message]) -> list[int]:
        if len(messages) == 1 or len(messages) > MAX_BATCH:
            # One message needs no batch (and is cheap); too many is refused clearly.
            return await self._publish_alone(messages)
        committer = self.runtime.committers.get(self.stream)
        if committer is None:
            committer = GroupCommitter(MAX_BATCH, ConflictError)
            self.runtime.committers[self.stream] = committer
        keys = frozenset(h.get(wire.H_EXPECTED_SUBJECT, s) for s, h, _ in messages)
        try:
            return await committer.write(messages, keys, self._publish)
        except ConflictError as exc:
            raise IntegrityError(f"event version already recorded: {exc}") from exc

    async def _publish_alone(self, messages: list[Message]) -> list[int]:
        try:
            return await self._publish(messages)
        except ConflictError as exc:
            raise IntegrityError(f"event version already recorded: {exc}") from exc

    async def _publish_with_tracking(
        self, messages: list[Message], tracking: Tracking
    ) -> list[int]:
        raise ProgrammingError("this recorder does not record tracking objects")

    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        subject_filter = self.subjects.originator_filter(self.kind, originator_id)
        if desc and limit == 1 and gt is None and lte is None:
            last = self._last(subject_filter)
            return [wire.to_stored_event(last)] if last is not None else []
        msgs = self._read_originator(subject_filter)
        events = [wire.to_stored_event(m) for m in msgs]
        if gt is not None:
            events = [e for e in events if e.originator_version > gt]
        if lte is not None:
            events = [e for e in events if e.originator_version <= lte]
        events.sort(key=lambda e: e.originator_version, reverse=desc)
        return events[:limit] if limit is not None else events

    def select_first_events(self) -> list[StoredEvent]:
        """Every aggregate's first record (version 1), e.g. to list the aggregates."""
        msgs = self._read_originator(f"{self.subjects.prefix}.{self.kind}.*.1.*")
        return [wire.to_stored_event(m) for m in sorted(msgs, key=lambda m: m.seq)]


class JetStreamApplicationRecorder(JetStreamAggregateRecorder, ApplicationRecorder):
    """Events in an application sequence numbered by the stream sequence."""

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        return self._insert(stored_events, kwargs.get("tracking"))

    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> Sequence[Notification]:
        first = 1 if start is None else (start if inclusive_of_start else start + 1)
        return self._notifications(max(first, 1), limit, stop, set(topics))

    def _notifications(
        self, start: int, limit: int, stop: int | None, topics: set[str]
    ) -> list[Notification]:
        subject_filter = self.subjects.all(wire.EVENTS)
        found: list[Notification] = []
        while len(found) < limit:
            want = READ_BATCH if topics else min(limit - len(found), READ_BATCH)
            msgs, more = self._log(subject_filter, start, want)
            for msg in msgs:
                if stop is not None and msg.seq > stop:
                    return found
                if topics and msg.headers.get(wire.H_TOPIC) not in topics:
                    continue
                found.append(wire.to_notification(msg.seq, msg.headers, msg.data))
                if len(found) == limit:
                    return found
            if not msgs or not more:
                break
            start = msgs[-1].seq + 1
        return found

    def max_notification_id(self) -> int | None:
        subject_filter = self.subjects.all(wire.EVENTS)
        last = self._last(subject_filter)
        return last.seq if last is not None else None

    def subscribe(
        self, gt: int | None = None, topics: Sequence[str] = ()
    ) -> Subscription[ApplicationRecorder]:
        return JetStreamSubscription(self, gt=gt, topics=topics)


class JetStreamTrackingRecorder(JetStreamStore, TrackingRecorder):
    """Tracking records: the last message on `<prefix>.tracking.<application>` wins."""

    def __init__(self, settings: Settings, kind: str = wire.EVENTS) -> None:
        super().__init__(settings, kind)
        self._tracking_positions: dict[str, tuple[int, int | None]] = {}

    async def _last_tracking(self, name: str, *, refresh: bool) -> tuple[int, int | None]:
        cached = self._tracking_positions.get(name)
        if cached is not None and not refresh:
            return cached
        msg = await self.runtime.direct.last(self.stream, self.subjects.tracking(name))
        position = (0, None) if msg is None else (msg.seq, int(msg.data))
        self._tracking_positions[name] = position
        return position

    def _tracking_message(self, tracking: Tracking, expected_seq: int) -> Message:
        subject = self.subjects.tracking(tracking.application_name)
        headers = {
            wire.H_APPLICATION: tracking.application_name,
            wire.H_EXPECTED_SUBJECT_SEQ: str(expected_seq),
        }
        return subject, headers, str(tracking.notification_id).encode()

    async def _publish_with_tracking(
        self, messages: list[Message], tracking: Tracking
    ) -> list[int]:
        name = tracking.application_name
        refresh = False
        for _ in range(TRACKING_RETRIES):
            seq, max_id = await self._last_tracking(name, refresh=refresh)
            if max_id is not None and tracking.notification_id <= max_id:
                if not refresh:
                    refresh = True  # our cache may be stale; check the server
                    continue
                raise IntegrityError(
                    f"tracking {tracking.notification_id} of {name!r} is not above {max_id}"
                )
            batch = [(s, dict(h), d) for s, h, d in messages]
            batch.append(self._tracking_message(tracking, seq))
            try:
                seqs = await self._publish(batch)
            except ConflictError as exc:
                latest = await self._last_tracking(name, refresh=True)
                if latest[0] == seq:
                    raise IntegrityError(f"event version already recorded: {exc}") from exc
                refresh = True
                continue
            self._tracking_positions[name] = (seqs[-1], tracking.notification_id)
            return seqs[:-1]
        raise OperationalError(f"tracking of {name!r} kept changing under concurrent writers")

    def insert_tracking(self, tracking: Tracking) -> None:
        self._call(lambda: self._publish_with_tracking([], tracking))

    def max_tracking_id(self, application_name: str) -> int | None:
        msg = self._last(self.subjects.tracking(application_name))
        position = (0, None) if msg is None else (msg.seq, int(msg.data))
        self._tracking_positions[application_name] = position
        return position[1]


class JetStreamProcessRecorder(
    JetStreamTrackingRecorder, JetStreamApplicationRecorder, ProcessRecorder
):
    """Events and the tracking object they follow from, committed in one atomic batch."""


class StrictProcessRecorder(JetStreamProcessRecorder):
    """A process recorder for a single writer: it fails when its tracking record moved.

    The default recorder re-reads a tracking record another writer moved and carries on
    when its own position is still ahead; this one raises `IntegrityError` instead, so a
    second process following the same upstream on the same prefix is fenced off.
    """

    async def _publish_with_tracking(
        self, messages: list[Message], tracking: Tracking
    ) -> list[int]:
        name = tracking.application_name
        seq, max_id = await self._last_tracking(name, refresh=False)
        if max_id is not None and tracking.notification_id <= max_id:
            raise IntegrityError(
                f"tracking {tracking.notification_id} of {name!r} is not above {max_id}"
            )
        batch = [(s, dict(h), d) for s, h, d in messages]
        batch.append(self._tracking_message(tracking, seq))
        try:
            seqs = await self._publish(batch)
        except ConflictError as exc:
            latest = await self._last_tracking(name, refresh=True)
            if latest[0] != seq:
                raise IntegrityError(
                    f"tracking of {name!r} moved to {latest[1]} under this writer "
                    "(another process writes the same prefix)"
                ) from exc
            raise IntegrityError(f"event version already recorded: {exc}") from exc
        self._tracking_positions[name] = (seqs[-1], tracking.notification_id)
        return seqs[:-1]
