"""Pull `cmd.<account>.>` from the CMD work queue with a durable consumer per account."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from nats.aio.msg import Msg
from nats.js import api

from agents.nats_link import NatsLink
from bus import subjects
from bus.codec import decode_command
from bus.consumer import safe_handler
from bus.schemas import Command

log = logging.getLogger(__name__)


def durable_name(account_id: str) -> str:
    return f"agent-{account_id}"


async def consume_commands(
    link: NatsLink,
    account_id: str,
    handle: Callable[[Command, Msg], Awaitable[None]],
    stop: asyncio.Event,
    *,
    ack_wait_s: float = 60.0,
) -> None:
    """Fetch and handle commands one by one until `stop`; bad bodies go to the DLQ."""
    durable = durable_name(account_id)
    sub = None
    while not stop.is_set():
        if not link.connected or link.js is None:
            await _pause(stop, 0.2)
            continue
        js = link.js
        if sub is None:
            try:
                sub = await js.pull_subscribe(
                    subjects.commands_for(account_id),
                    durable=durable,
                    stream=subjects.STREAM_CMD,
                    config=api.ConsumerConfig(ack_wait=ack_wait_s, max_deliver=5),
                )
            except Exception as exc:  # noqa: BLE001 - stream missing or NATS down: retry
                log.warning("cannot subscribe to commands yet: %r", exc)
                await _pause(stop, 1.0)
                continue
            handler = safe_handler(js, decode_command, handle, consumer=durable)
        try:
            msgs = await sub.fetch(10, timeout=0.5)
        except TimeoutError:
            continue
        except Exception as exc:  # noqa: BLE001 - reconnecting: try again shortly
            log.debug("command fetch failed: %r", exc)
            await _pause(stop, 0.2)
            continue
        for msg in msgs:
            try:
                await handler(msg)
            except Exception:
                log.exception("command on %s not handled; it will be redelivered", msg.subject)


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
