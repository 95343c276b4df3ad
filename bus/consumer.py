"""Wrap a typed handler so that no message can crash a consumer or be lost."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from nats.aio.msg import Msg
from nats.js.client import JetStreamContext

from bus.codec import DecodeError
from bus.dlq import dead_letter

log = logging.getLogger(__name__)

T = TypeVar("T")
Decode = Callable[[str, bytes], T]
Handle = Callable[[T, Msg], Awaitable[None]]


def safe_handler(
    js: JetStreamContext,
    decode: Decode[T],
    handle: Handle[T],
    *,
    consumer: str,
    max_deliver: int = 5,
    retry_delay: float = 1.0,
    ack: bool = True,
) -> Callable[[Msg], Awaitable[None]]:
    """Build a message callback: decode, handle, ack; bad messages go to the DLQ.

    A message that fails to decode is dead-lettered at once. A handler failure is retried
    (nak with delay) and dead-lettered after `max_deliver` deliveries. With `ack=False`
    (core subscriptions) nothing is acked or naked.
    """

    async def on_message(msg: Msg) -> None:
        try:
            value = decode(msg.subject, msg.data)
        except DecodeError as exc:
            await _dead_letter(js, msg, str(exc), "decode", consumer)
            if ack:
                await msg.ack()
            return
        try:
            await handle(value, msg)
        except Exception as exc:
            delivered = _delivered(msg) if ack else max_deliver
            log.exception(
                "%s: handler failed on %s (delivery %d)", consumer, msg.subject, delivered
            )
            if delivered >= max_deliver:
                await _dead_letter(js, msg, f"{type(exc).__name__}: {exc}", "handler", consumer)
                if ack:
                    await msg.ack()
            elif ack:
                await msg.nak(delay=retry_delay)
            return
        if ack:
            await msg.ack()

    return on_message


def _delivered(msg: Msg) -> int:
    try:
        return int(msg.metadata.num_delivered or 1)
    except Exception:  # noqa: BLE001 - not a JetStream message
        return 1


async def _dead_letter(
    js: JetStreamContext, msg: Msg, error: str, kind: str, consumer: str
) -> None:
    try:
        await dead_letter(
            js,
            subject=msg.subject,
            data=msg.data,
            error=error,
            kind=kind,
            consumer=consumer,
            original_headers=dict(msg.headers or {}),
        )
    except Exception:
        log.exception("%s: could not dead-letter message on %s", consumer, msg.subject)
        raise
