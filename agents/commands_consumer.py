"""Pull `cmd.<account>.>` from the CMD work queue with a durable consumer per account."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from nats.aio.msg import Msg
from nats.js.client import JetStreamContext

from agents.nats_link import NatsLink
from bus import subjects
from bus.codec import decode_command
from bus.consumer import consume_durable
from bus.schemas import Command


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

    def current_js() -> JetStreamContext | None:
        return link.js if link.connected else None

    await consume_durable(
        current_js,
        subject=subjects.commands_for(account_id),
        durable=durable_name(account_id),
        stream=subjects.STREAM_CMD,
        decode=decode_command,
        handle=handle,
        stop=stop,
        ack_wait_s=ack_wait_s,
    )
