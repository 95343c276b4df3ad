"""Create or extend the stream an application's records live in."""

from __future__ import annotations

from eventsourcing.persistence import ProgrammingError
from nats.aio.client import Client
from nats.js.api import RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import APIError, NotFoundError

from bus.eventstore.settings import Settings

_ensured: set[tuple[str, str, str]] = set()


def covers(stream_subject: str, prefix: str) -> bool:
    """Tell whether a stream subject filter captures every subject under `prefix`."""
    filter_tokens = stream_subject.split(".")
    prefix_tokens = prefix.split(".")
    for i, token in enumerate(filter_tokens):
        if token == ">":
            return i <= len(prefix_tokens)
        if i >= len(prefix_tokens) or token not in ("*", prefix_tokens[i]):
            return False
    return False


async def ensure_stream(nc: Client, settings: Settings) -> None:
    """Make sure the stream exists, captures `<prefix>.>` and allows atomic batches."""
    key = (settings.url, settings.stream, settings.prefix)
    if key in _ensured:
        return
    js = nc.jetstream(timeout=settings.timeout)
    wanted = f"{settings.prefix}.>"
    try:
        try:
            info = await js.stream_info(settings.stream)
        except NotFoundError:
            await js.add_stream(
                StreamConfig(
                    name=settings.stream,
                    subjects=[wanted],
                    retention=RetentionPolicy.LIMITS,
                    storage=StorageType.FILE,
                    num_replicas=settings.replicas,
                    allow_atomic=True,
                    allow_direct=True,
                    deny_delete=True,
                    deny_purge=True,
                )
            )
        else:
            config = info.config
            subjects = list(config.subjects or [])
            changed = False
            if not any(covers(s, settings.prefix) for s in subjects):
                subjects.append(wanted)
                config.subjects = subjects
                changed = True
            if not config.allow_atomic or not config.allow_direct:
                config.allow_atomic = True
                config.allow_direct = True
                changed = True
            if changed:
                await js.update_stream(config)
    except APIError as exc:
        raise ProgrammingError(
            f"cannot set up stream {settings.stream!r} for subjects {wanted!r}: {exc}"
        ) from exc
    _ensured.add(key)


def forget_stream(url: str, stream: str) -> None:
    """Drop cached knowledge of a stream (after it was deleted)."""
    for key in [k for k in _ensured if k[0] == url and k[1] == stream]:
        _ensured.discard(key)
