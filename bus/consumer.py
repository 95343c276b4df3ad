"""Wrap a typed handler so that no message can crash a consumer or be lost."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from nats.aio.msg import Msg
from nats.js import api
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


GetJetStream = Callable[[], JetStreamContext | None]


async def consume_durable(
    get_js: GetJetStream,
    *,
    subject: str,
    durable: str,
    stream: str,
    decode: Decode[T],
    handle: Handle[T],
    stop: asyncio.Event,
    ack_wait_s: float = 60.0,
    max_deliver: int = 5,
    batch: int = 10,
) -> None:
    """Fetch from a durable pull consumer and handle each message until `stop` is set.

    `get_js` returns None while the connection is down; the loop waits and resubscribes.
    Undecodable messages go to the DLQ, failing handlers are retried (see `safe_handler`).
    """
    sub: JetStreamContext.PullSubscription | None = None
    handler: Callable[[Msg], Awaitable[None]] | None = None
    while not stop.is_set():
        js = get_js()
        if js is None:
            await _pause(stop, 0.2)
            continue
        if sub is None or handler is None:
            try:
                sub = await js.pull_subscribe(
                    subject,
                    durable=durable,
                    stream=stream,
                    config=api.ConsumerConfig(ack_wait=ack_wait_s, max_deliver=max_deliver),
                )
            except Exception as exc:  # noqa: BLE001 - stream missing or NATS down: retry
                log.warning("%s: cannot subscribe to %s yet: %r", durable, subject, exc)
                await _pause(stop, 1.0)
                continue
            handler = safe_handler(js, decode, handle, consumer=durable, max_deliver=max_deliver)
        try:
            msgs = await sub.fetch(batch, timeout=0.5)
        except TimeoutError:
            continue
        except Exception as exc:  # noqa: BLE001 - reconnecting: try again shortly
            log.debug("%s: fetch failed: %r", durable, exc)
            await _pause(stop, 0.2)
            continue
        for msg in msgs:
            try:
                await handler(msg)
            except Exception:
                log.exception("%s: message on %s not handled; redelivered", durable, msg.subject)


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
