"""JetStream publishing with every ack collected on one inbox subscription.

A JetStream publish is a core publish with a reply subject; the stream answers there with
its PubAck. nats-py's `publish_async` does this with a random token (os.urandom), a
semaphore, a JSON parse into a dataclass and two callbacks per message; this does the same
with a counter, one future and msgspec, which matters at thousands of facts per second.
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

MSG_ID = "Nats-Msg-Id"


class AckError(Exception):
    """The stream did not store the message (API error, or no stream for the subject)."""


class _ApiError(msgspec.Struct):
    code: int = 0
    err_code: int = 0
    description: str = ""


class PubAck(msgspec.Struct):
    stream: str = ""
    seq: int = 0
    duplicate: bool = False
    error: _ApiError | None = None


_decoder = msgspec.json.Decoder(PubAck)


class AckInbox:
    """Publishes to JetStream and resolves one future per message with its PubAck."""

    def __init__(self, nc: Client) -> None:
        self.nc = nc
        self._prefix = ""
        self._sub: Subscription | None = None
        self._futures: dict[int, asyncio.Future[PubAck]] = {}
        self._seq = 0

    async def publish(self, subject: str, payload: bytes, msg_id: str) -> asyncio.Future[PubAck]:
        """Send one message with its Nats-Msg-Id; the future resolves with the ack."""
        if self._sub is None:
            inbox = self.nc.new_inbox()
            self._sub = await self.nc.subscribe(f"{inbox}.*", cb=self._on_reply)
            self._prefix = f"{inbox}."
        self._seq += 1
        seq = self._seq
        fut: asyncio.Future[PubAck] = asyncio.get_running_loop().create_future()
        self._futures[seq] = fut
        try:
            await self.nc.publish(
                subject, payload, reply=f"{self._prefix}{seq}", headers={MSG_ID: msg_id}
            )
        except BaseException:
            self._futures.pop(seq, None)
            raise
        return fut

    async def send(self, subject: str, payload: bytes, msg_id: str) -> None:
        """Publish without asking for an ack (ticks: market data the terminal can give
        again); the stream still stores it and deduplicates it by its Nats-Msg-Id."""
        await self.nc.publish(subject, payload, headers={MSG_ID: msg_id})

    def forget_done(self) -> None:
        """Drop futures given up on (timed out and cancelled) whose ack never came."""
        self._futures = {k: f for k, f in self._futures.items() if not f.done()}

    @property
    def waiting(self) -> int:
        return len(self._futures)

    async def _on_reply(self, msg: Msg) -> None:
        try:
            seq = int(msg.subject[len(self._prefix) :])
        except ValueError:
            return
        fut = self._futures.pop(seq, None)
        if fut is None or fut.done():
            return
        if not msg.data:  # a status-only reply, e.g. 503: no stream listens on the subject
            status = _header(msg, "Status")
            fut.set_exception(AckError(f"no stream stored the message (status {status})"))
            return
        try:
            ack = _decoder.decode(msg.data)
        except msgspec.DecodeError as exc:
            fut.set_exception(AckError(f"unreadable ack: {exc}"))
            return
        if ack.error is not None:
            fut.set_exception(AckError(f"{ack.error.code} {ack.error.description}"))
            return
        fut.set_result(ack)


def _header(msg: Msg, name: str) -> Any:
    headers = msg.headers or {}
    return headers.get(name, "")
