from __future__ import annotations

import asyncio
import uuid

import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.client import JetStreamContext

from bus import codec, dlq
from bus.consumer import safe_handler
from bus.schemas import TickReceived
from bus.schemas.base import Message
from tests.support import eventually

pytestmark = pytest.mark.nats


async def _dlq_messages(nc: Client, account: str) -> list[Msg]:
    js = nc.jetstream()
    sub = await js.subscribe(f"dlq.mt5.{account}.>", ordered_consumer=True)
    found: list[Msg] = []
    try:
        while True:
            try:
                found.append(await sub.next_msg(timeout=0.5))
            except TimeoutError:
                return found
    finally:
        await sub.unsubscribe()


async def test_consumer_when_message_malformed_then_dlq_with_reason_and_consumer_goes_on(
    provisioned_nats_url: str, nc: Client
) -> None:
    account = f"acc-{uuid.uuid4().hex[:8]}"
    js = nc.jetstream()
    handled: list[Message] = []

    async def handle(fact: Message, msg: Msg) -> None:
        handled.append(fact)

    callback = safe_handler(js, codec.decode_fact, handle, consumer="test-dlq")
    sub = await js.subscribe(f"mt5.{account}.tick.*", cb=callback, manual_ack=True)
    good = TickReceived(
        account_id=account, symbol="EURUSD", bid=1.0, ask=1.1, time_msc=1_772_442_000_001
    )
    await js.publish(f"mt5.{account}.tick.EURUSD", b"\x00garbage{")
    await js.publish(f"mt5.{account}.tick.EURUSD", codec.encode(good))
    await eventually(lambda: handled == [good], message="good tick handled after bad one")

    dead = await eventually(lambda: _dlq_messages(nc, account), message="message in DLQ")
    assert len(dead) == 1
    headers = dead[0].headers or {}
    assert dead[0].data == b"\x00garbage{"
    assert headers[dlq.HDR_ORIGINAL_SUBJECT] == f"mt5.{account}.tick.EURUSD"
    assert headers[dlq.HDR_ERROR_KIND] == "decode"
    assert "JSON" in headers[dlq.HDR_ERROR] or "malformed" in headers[dlq.HDR_ERROR].lower()
    assert headers[dlq.HDR_CONSUMER] == "test-dlq"
    await eventually(lambda: _nothing_waiting(sub), message="bad message acked, not redelivered")
    await sub.unsubscribe()


async def _nothing_waiting(sub: JetStreamContext.PushSubscription) -> bool:
    return await _unacked(sub) == 0


async def test_consumer_when_handler_keeps_failing_then_retried_then_dead_lettered(
    provisioned_nats_url: str, nc: Client
) -> None:
    account = f"acc-{uuid.uuid4().hex[:8]}"
    js = nc.jetstream()
    attempts = 0

    async def handle(fact: Message, msg: Msg) -> None:
        nonlocal attempts
        attempts += 1
        raise RuntimeError("projection store down")

    callback = safe_handler(
        js, codec.decode_fact, handle, consumer="test-retry", max_deliver=3, retry_delay=0.05
    )
    sub = await js.subscribe(f"mt5.{account}.tick.*", cb=callback, manual_ack=True)
    tick = TickReceived(
        account_id=account, symbol="EURUSD", bid=1.0, ask=1.1, time_msc=1_772_442_000_001
    )
    await js.publish(f"mt5.{account}.tick.EURUSD", codec.encode(tick))
    await eventually(lambda: _dlq_messages(nc, account), message="dead-lettered")
    await eventually(lambda: attempts >= 3, message="three attempts")
    await asyncio.sleep(0.3)  # time for a wrong fourth attempt or a second dead letter
    assert attempts == 3
    dead = await _dlq_messages(nc, account)
    assert len(dead) == 1  # dead-lettered once, after the last attempt
    headers = dead[0].headers or {}
    assert headers[dlq.HDR_ERROR_KIND] == "handler"
    assert "projection store down" in headers[dlq.HDR_ERROR]
    assert headers[dlq.HDR_ORIGINAL_SUBJECT] == f"mt5.{account}.tick.EURUSD"
    assert dead[0].data == codec.encode(tick)
    assert await _unacked(sub) == 0
    await sub.unsubscribe()


async def _unacked(sub: JetStreamContext.PushSubscription) -> int:
    """Messages the consumer delivered and still waits to be acked for, plus undelivered."""
    info = await sub.consumer_info()
    return (info.num_ack_pending or 0) + (info.num_pending or 0)
