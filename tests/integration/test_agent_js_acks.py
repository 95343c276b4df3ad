"""The agent's JetStream publishing: one ack per message, errors when nothing stores it."""

from __future__ import annotations

import uuid

import pytest
from nats.aio.client import Client

from agents.js_acks import AckError, AckInbox

pytestmark = [pytest.mark.nats]


async def test_ack_inbox_when_publishing_then_each_message_gets_its_own_ack(nc: Client) -> None:
    name = f"ACKS_{uuid.uuid4().hex[:8].upper()}"
    subject = f"acks.{name.lower()}"
    js = nc.jetstream()
    await js.add_stream(name=name, subjects=[f"{subject}.>"])
    try:
        inbox = AckInbox(nc)
        futures = [await inbox.publish(f"{subject}.{i % 3}", b"x", f"id-{i}") for i in range(50)]
        again = await inbox.publish(f"{subject}.0", b"x", "id-7")
        acks = [await f for f in futures]
        assert [a.seq for a in acks] == list(range(1, 51))
        assert {a.stream for a in acks} == {name}
        assert not any(a.duplicate for a in acks)
        duplicate = await again
        assert duplicate.duplicate
        assert inbox.waiting == 0
    finally:
        await js.delete_stream(name)


async def test_ack_inbox_when_no_stream_takes_the_subject_then_the_future_fails(
    nc: Client,
) -> None:
    inbox = AckInbox(nc)
    fut = await inbox.publish(f"nostream.{uuid.uuid4().hex}", b"x", "id-1")
    with pytest.raises(AckError, match="no stream stored the message"):
        await fut
