"""Reading the notification log in order through ephemeral pull consumers kept as cursors.

A direct get looks every message up on its own; a consumer streams them, several times
faster on the server. Creating a consumer costs a round trip or two, so after a read the
consumer is kept, keyed by where it stands: the next read from that position (paging
through the log) fetches from it again. Idle consumers vanish on the server by themselves.
"""

from __future__ import annotations

import json
import secrets
import threading

from bus import subjects
from bus.eventstore.directget import DirectGetError, RawMsg
from bus.eventstore.syncget import Connection, SyncDirectGetClient

INACTIVE_NS = 30 * 1_000_000_000
MAX_CURSORS = 32
_ACK = subjects.js_ack("").encode()


class ConsumerGone(DirectGetError):
    """The cursor's consumer no longer exists on the server."""


class LogReader:
    """`read(stream, filter, start, count)` through reusable consumers."""

    def __init__(self, client: SyncDirectGetClient) -> None:
        self._client = client
        self._lock = threading.Lock()
        self._cursors: dict[tuple[str, str, int], str] = {}  # (stream, filter, next) -> name

    def read(
        self, stream: str, subject_filter: str, start: int, count: int, timeout: float
    ) -> list[RawMsg]:
        """Up to `count` messages on `subject_filter` from sequence `start` on, in order."""
        with self._lock:
            name = self._cursors.pop((stream, subject_filter, start), None)
        msgs: list[RawMsg] | None = None
        if name is not None:
            try:
                msgs = self._fetch(stream, name, count, timeout)
            except ConsumerGone:
                msgs = None
        if name is None or msgs is None:
            name = self._create(stream, subject_filter, start, timeout)
            msgs = self._fetch(stream, name, count, timeout)
        next_seq = msgs[-1].seq + 1 if msgs else start
        with self._lock:
            self._cursors[(stream, subject_filter, next_seq)] = name
            while len(self._cursors) > MAX_CURSORS:
                del self._cursors[next(iter(self._cursors))]
        return msgs

    def _create(self, stream: str, subject_filter: str, start: int, timeout: float) -> str:
        name = f"mtq_log_{secrets.token_hex(8)}"
        config = {
            "name": name,
            "deliver_policy": "by_start_sequence",
            "opt_start_seq": start,
            "ack_policy": "none",
            "filter_subject": subject_filter,
            "inactive_threshold": INACTIVE_NS,
            "mem_storage": True,
            "num_replicas": 1,
        }
        payload = json.dumps({"stream_name": stream, "config": config}).encode()
        reply = self._client.exchange(
            subjects.js_api(f"CONSUMER.CREATE.{stream}.{name}").encode(),
            payload,
            timeout,
            self._json_reply,
        )
        if reply.get("error"):
            raise DirectGetError(f"cannot create a log consumer: {reply['error']}")
        return name

    def _json_reply(self, conn: Connection, reply_to: bytes, deadline: float) -> dict[str, object]:
        try:
            while True:
                parts, block, body = self._client.next_frame(conn, deadline)
                if parts[0] != reply_to:
                    continue
                if block:
                    status, _ = self._client.headers_of(block)
                    if status == 503:
                        raise OSError("no responders: is JetStream enabled?")
                reply: dict[str, object] = json.loads(body)
                return reply
        finally:
            conn.buf, conn.pos = conn.buf[conn.pos :], 0

    def _fetch(self, stream: str, name: str, count: int, timeout: float) -> list[RawMsg]:
        payload = json.dumps({"batch": count, "no_wait": True}).encode()

        def collect(conn: Connection, reply_to: bytes, deadline: float) -> list[RawMsg]:
            return self._messages(conn, reply_to, deadline, count)

        return self._client.exchange(
            subjects.js_api(f"CONSUMER.MSG.NEXT.{stream}.{name}").encode(),
            payload,
            timeout,
            collect,
        )

    def _messages(
        self, conn: Connection, reply_to: bytes, deadline: float, count: int
    ) -> list[RawMsg]:
        msgs: list[RawMsg] = []
        headers_of = self._client.headers_of
        try:
            while len(msgs) < count:
                parts, block, body = self._client.next_frame(conn, deadline)
                if len(parts) == 5 and parts[2].startswith(_ACK):
                    # $JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.
                    # <time>.<pending>, or with <domain>.<account hash> before <stream>
                    # (and maybe a random token at the end).
                    tokens = parts[2].split(b".")
                    seq = int(tokens[5] if len(tokens) == 9 else tokens[7])
                    _, headers = headers_of(block)
                    msgs.append(RawMsg(parts[0].decode(), seq, headers, body))
                    continue
                if parts[0] != reply_to:
                    continue
                status, _ = headers_of(block)
                if status in (404, 408):  # no (more) messages now
                    break
                if status == 503:
                    raise ConsumerGone
                if status == 409 and b"Consumer Deleted" in block:
                    raise ConsumerGone
                raise DirectGetError(f"log consumer fetch failed: {block[:200]!r}")
        finally:
            conn.buf, conn.pos = conn.buf[conn.pos :], 0
        return msgs
