"""Subjects, headers and messages of the event store (format: schemas/README.md)."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from uuid import UUID

from eventsourcing.persistence import Notification, StoredEvent

from bus.eventstore.directget import RawMsg

H_TOPIC = "Es-Topic"
H_ORIGINATOR_ID = "Es-Originator-Id"
H_VERSION = "Es-Originator-Version"
H_ID_TYPE = "Es-Id-Type"
H_TYPES = "Es-Types"
H_APPLICATION = "Es-Application"
H_EXPECTED_SUBJECT_SEQ = "Nats-Expected-Last-Subject-Sequence"
H_EXPECTED_SUBJECT = "Nats-Expected-Last-Subject-Sequence-Subject"
H_BATCH_ID = "Nats-Batch-Id"
H_BATCH_SEQ = "Nats-Batch-Sequence"
H_BATCH_COMMIT = "Nats-Batch-Commit"
READ_HEADERS = (H_TOPIC, H_ORIGINATOR_ID, H_VERSION, H_ID_TYPE, H_TYPES, H_APPLICATION)

EVENTS = "events"
SNAPSHOTS = "snapshots"
TRACKING = "tracking"

_SAFE_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,200}$")
_NON_TOKEN = re.compile(r"[^A-Za-z0-9_-]+")


@dataclass(frozen=True)
class TypedStoredEvent(StoredEvent):
    """A stored event whose state is plain JSON, with the Python types of some values."""

    types: bytes = b"{}"


@dataclass(frozen=True)
class TypedNotification(Notification):
    """A notification whose state is plain JSON, with the Python types of some values."""

    types: bytes = b"{}"


def id_token(value: UUID | str) -> str:
    """Subject token for an originator id or application name (injective)."""
    text = str(value)
    if _SAFE_TOKEN.match(text):
        return text
    return "~" + base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def type_token(topic: str) -> str:
    """Subject token naming an event's class: the last part of its topic."""
    name = topic.rsplit(":", 1)[-1].rsplit(".", 1)[-1]
    return _NON_TOKEN.sub("_", name)[:100] or "Event"


@dataclass(frozen=True)
class Subjects:
    """Subject names under one application's prefix."""

    prefix: str

    def record(self, kind: str, originator_id: UUID | str, version: int, topic: str) -> str:
        return f"{self.prefix}.{kind}.{id_token(originator_id)}.{version}.{type_token(topic)}"

    def version_filter(self, kind: str, originator_id: UUID | str, version: int) -> str:
        return f"{self.prefix}.{kind}.{id_token(originator_id)}.{version}.*"

    def originator_filter(self, kind: str, originator_id: UUID | str) -> str:
        return f"{self.prefix}.{kind}.{id_token(originator_id)}.>"

    def all(self, kind: str) -> str:
        return f"{self.prefix}.{kind}.>"

    def tracking(self, application_name: str) -> str:
        return f"{self.prefix}.{TRACKING}.{id_token(application_name)}"


def event_headers(stored: StoredEvent) -> dict[str, str]:
    """Headers carrying a stored event's identity, version, topic and value types."""
    headers = {
        H_TOPIC: stored.topic,
        H_ORIGINATOR_ID: str(stored.originator_id),
        H_VERSION: str(stored.originator_version),
    }
    if not isinstance(stored.originator_id, UUID):
        headers[H_ID_TYPE] = "str"
    types = getattr(stored, "types", None)
    if types is not None:
        headers[H_TYPES] = types.decode()
    return headers


def _originator(headers: dict[str, str]) -> UUID | str:
    raw = headers[H_ORIGINATOR_ID]
    return raw if headers.get(H_ID_TYPE) == "str" else UUID(raw)


def to_stored_event(msg: RawMsg) -> StoredEvent:
    headers = msg.headers
    types = headers.get(H_TYPES)
    if types is None:
        return StoredEvent(
            _originator(headers), int(headers[H_VERSION]), headers[H_TOPIC], msg.data
        )
    return TypedStoredEvent(
        _originator(headers), int(headers[H_VERSION]), headers[H_TOPIC], msg.data, types.encode()
    )


def to_notification(seq: int, headers: dict[str, str], data: bytes) -> Notification:
    types = headers.get(H_TYPES)
    if types is None:
        return Notification(
            _originator(headers), int(headers[H_VERSION]), headers[H_TOPIC], data, seq
        )
    return TypedNotification(
        _originator(headers),
        int(headers[H_VERSION]),
        headers[H_TOPIC],
        data,
        seq,
        types.encode(),
    )
