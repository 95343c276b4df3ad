"""Plain-JSON event state: ISO times, canonical UUIDs, decimals as numbers, no wrappers.

Values JSON has no type for are written plainly and their Python types are listed apart,
in the `Es-Types` header: `{"/path/to/value": ["decimal"], ...}` (JSON Pointer paths, the
outermost type first). Readers in other languages use the body and may ignore the header.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Generic, cast
from uuid import UUID

import msgspec
from eventsourcing.domain import DomainEventProtocol, TAggregateID
from eventsourcing.persistence import (
    JSONTranscoder,
    Mapper,
    MapperDeserialisationError,
    StoredEvent,
    find_id_convertor,
)
from eventsourcing.utils import get_topic, resolve_topic

from bus.eventstore.wire import TypedNotification, TypedStoredEvent

TypeMap = dict[str, list[str]]

_BUILTIN_ENCODERS: dict[type, tuple[str, Callable[[Any], Any]]] = {
    UUID: ("uuid", str),
    datetime: ("datetime", datetime.isoformat),
    date: ("date", date.isoformat),
    Decimal: ("decimal", lambda d: d),  # msgspec writes Decimal as a JSON number
    tuple: ("tuple", list),
}
_BUILTIN_DECODERS: dict[str, Callable[[Any], Any]] = {
    "uuid": UUID,
    "datetime": datetime.fromisoformat,
    "date": date.fromisoformat,
    "decimal": lambda v: v if isinstance(v, Decimal) else Decimal(str(v)),
    "tuple": tuple,
}
_PLAIN = (str, int, float, bool, type(None))
_encoder = msgspec.json.Encoder(decimal_format="number")


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


class PlainJSONTranscoder(JSONTranscoder):
    """JSONTranscoder whose `encode_plain`/`decode_plain` keep types out of the JSON.

    `encode`/`decode` stay the library's (wrapped) format, used when a cipher or
    compressor makes the state unreadable anyway.
    """

    def encode_plain(self, obj: Any) -> tuple[bytes, bytes]:
        """Return (plain JSON body, JSON type map)."""
        types: TypeMap = {}
        plain = self._to_plain(obj, "", types)
        return _encoder.encode(plain), (_encoder.encode(types) if types else b"{}")

    def _to_plain(self, obj: Any, path: str, types: TypeMap) -> Any:
        kind = type(obj)
        if kind in _PLAIN:
            return obj
        if kind is dict:
            return {
                k: self._to_plain(v, f"{path}/{_escape(str(k))}", types) for k, v in obj.items()
            }
        if kind is list:
            return [self._to_plain(v, f"{path}/{i}", types) for i, v in enumerate(obj)]
        builtin = _BUILTIN_ENCODERS.get(kind)
        if builtin is not None:
            name, convert = builtin
            types.setdefault(path, []).append(name)
            value = convert(obj)
            return value if kind is not tuple else self._to_plain(value, path, types)
        transcoding = self.types.get(kind)
        if transcoding is None:
            self._encode_obj(obj)  # raises the library's TranscodingNotRegisteredError
        assert transcoding is not None
        types.setdefault(path, []).append(transcoding.name)
        return self._to_plain(transcoding.encode(obj), path, types)

    def decode_plain(self, body: bytes, types_json: bytes) -> Any:
        """Rebuild the object from a plain JSON body and its type map."""
        types: TypeMap = json.loads(types_json) if types_json not in (b"", b"{}") else {}
        decimals = any("decimal" in names for names in types.values())
        obj = json.loads(body, parse_float=Decimal) if decimals else msgspec.json.decode(body)
        if decimals:
            obj = self._floats_back(obj, "", types)
        for path in sorted(types, key=lambda p: p.count("/"), reverse=True):
            obj = self._apply(obj, path, types[path])
        return obj

    def _floats_back(self, obj: Any, path: str, types: TypeMap) -> Any:
        if isinstance(obj, Decimal):
            return obj if "decimal" in types.get(path, ()) else float(obj)
        if isinstance(obj, dict):
            return {k: self._floats_back(v, f"{path}/{_escape(k)}", types) for k, v in obj.items()}
        if isinstance(obj, list):
            return [self._floats_back(v, f"{path}/{i}", types) for i, v in enumerate(obj)]
        return obj

    def _apply(self, obj: Any, path: str, names: list[str]) -> Any:
        def convert(value: Any) -> Any:
            for name in reversed(names):
                decoder = _BUILTIN_DECODERS.get(name)
                transcode = decoder if decoder is not None else self.names[name].decode
                value = transcode(value)
            return value

        if not path:
            return convert(obj)
        tokens = [_unescape(t) for t in path[1:].split("/")]
        parent = obj
        for token in tokens[:-1]:
            parent = parent[int(token)] if isinstance(parent, list) else parent[token]
        last = tokens[-1]
        if isinstance(parent, list):
            parent[int(last)] = convert(parent[int(last)])
        else:
            parent[last] = convert(parent[last])
        return obj


class PlainJSONMapper(Mapper[TAggregateID], Generic[TAggregateID]):
    """Mapper writing plain JSON state (and its type map) unless a cipher or compressor is set."""

    def _plain(self) -> PlainJSONTranscoder | None:
        transcoder = self.transcoder
        if self.cipher or self.compressor or not isinstance(transcoder, PlainJSONTranscoder):
            return None
        return transcoder

    def to_stored_event(self, domain_event: DomainEventProtocol[TAggregateID]) -> StoredEvent:
        transcoder = self._plain()
        if transcoder is None:
            return super().to_stored_event(domain_event)
        state = dict(vars(domain_event))
        originator_id = state.pop("originator_id")
        originator_version = state.pop("originator_version")
        class_version = getattr(type(domain_event), "class_version", 1)
        if class_version > 1:
            state["class_version"] = class_version
        body, types = transcoder.encode_plain(state)
        return TypedStoredEvent(
            originator_id=originator_id,
            originator_version=originator_version,
            topic=get_topic(type(domain_event)),
            state=body,
            types=types,
        )

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[TAggregateID]:
        transcoder = self.transcoder
        if not isinstance(stored_event, TypedStoredEvent | TypedNotification) or not isinstance(
            transcoder, PlainJSONTranscoder
        ):
            return super().to_domain_event(stored_event)
        cls = resolve_topic(stored_event.topic)
        try:
            state: dict[str, Any] = transcoder.decode_plain(stored_event.state, stored_event.types)
        except Exception as exc:
            msg = (
                f"Failed to deserialise state of stored event with topic "
                f"'{stored_event.topic}', originator_id '{stored_event.originator_id}' and "
                f"originator_version {stored_event.originator_version}: {exc}"
            )
            raise MapperDeserialisationError(msg) from exc
        convert = find_id_convertor(cls, cast(Hashable, type(stored_event.originator_id)))
        state["originator_id"] = convert(stored_event.originator_id)
        state["originator_version"] = stored_event.originator_version
        class_version = getattr(cls, "class_version", 1)
        from_version = state.pop("class_version", 1)
        while from_version < class_version:
            getattr(cls, f"upcast_v{from_version}_v{from_version + 1}")(state)
            from_version += 1
        domain_event = object.__new__(cls)
        object.__setattr__(domain_event, "__dict__", state)
        return cast(DomainEventProtocol[TAggregateID], domain_event)
