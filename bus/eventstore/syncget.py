"""Batched direct gets from the calling thread, on blocking sockets.

Reads need no event loop: handing a request to the loop thread and the reply back costs two
thread wake-ups and GIL hand-offs per call, and moves the parsing of large replies onto the
one loop thread. A reading thread takes an idle connection from a small pool (or opens one)
for each request and gives it back afterwards; a connection that failed is closed. Each is a
minimal NATS protocol client (CONNECT, SUB, PUB, HMSG, PING/PONG) that authenticates,
upgrades to TLS and fails over across the URL's servers as `directget` does.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from bus import subjects
from bus.eventstore.directget import (
    CONNECT_TIMEOUT,
    DirectGetError,
    Endpoint,
    Failover,
    RawMsg,
    connect_command,
    handshake,
    parse_headers,
    parse_info,
)
from bus.security.client import ClientAuth

T = TypeVar("T")

_CRLF = b"\r\n"
_RECV = 1 << 20


def pick_headers(block: bytes, keys: Sequence[tuple[str, str]]) -> tuple[int, dict[str, str]]:
    """Like `parse_headers` but only for `keys`: (name, "\\r\\n<name>:") pairs."""
    text = block.decode(errors="replace")
    status = int(text[9:12]) if text.find("\r\n") >= 12 else 0
    headers: dict[str, str] = {}
    for key, marker in keys:
        i = text.find(marker)
        if i >= 0:
            i += len(marker)
            headers[key] = text[i : text.find("\r\n", i)].strip()
    return status, headers


_ALWAYS = ("Nats-Subject", "Nats-Sequence", "Nats-Num-Pending")


def _pending(status: int, headers: dict[str, str], block: bytes) -> int:
    """Messages still pending when a reply ends with `status`; raise for errors."""
    if status in (0, 404):  # a single message, or nothing (more) matches
        return 0
    if status == 204:  # end of batch
        return int(headers.get("Nats-Num-Pending", "0"))
    if status == 503:
        raise OSError("no responders for direct get")
    raise DirectGetError(f"direct get failed: {block!r}")


class _StaleConnection(ConnectionError):
    """A pooled connection failed on reuse: worth one more try on a new one."""


class Connection:
    """One thread's connection and its unread bytes."""

    def __init__(self, sock: socket.socket, inbox: bytes) -> None:
        self.sock = sock
        self.inbox = inbox
        self.buf = b""
        self.pos = 0  # used by next_frame only; 0 between requests
        self.next_id = 0


class SyncDirectGetClient:
    """Direct gets answered on the calling thread, over pooled connections."""

    def __init__(
        self, url: str, keys: tuple[str, ...] | None = None, auth: ClientAuth | None = None
    ) -> None:
        """`keys`: the only headers to read from messages (default: all of them)."""
        self._servers = Failover(url)
        self._auth = auth or ClientAuth()
        self._keys = (
            None if keys is None else [(k, f"\r\n{k}:") for k in dict.fromkeys(keys + _ALWAYS)]
        )
        self._lock = threading.Lock()
        self._all: set[Connection] = set()
        self._idle: list[Connection] = []  # connected, not in use
        self._closed = False

    def batch(
        self, stream: str, request: dict[str, Any], timeout: float
    ) -> tuple[list[RawMsg], int]:
        """Messages of a batched direct get and the count still pending after them."""
        return self._request(stream, request, timeout, single=False)

    def last(self, stream: str, subject: str, timeout: float) -> RawMsg | None:
        """The last message on `subject` (wildcards allowed), or None."""
        msgs, _ = self._request(stream, {"last_by_subj": subject}, timeout, single=True)
        return msgs[0] if msgs else None

    def close(self) -> None:
        """Close every thread's connection."""
        with self._lock:
            self._closed = True
            conns, self._all, self._idle = self._all, set(), []
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.sock.close()

    def _request(
        self, stream: str, request: dict[str, Any], timeout: float, *, single: bool
    ) -> tuple[list[RawMsg], int]:
        payload = json.dumps(request, separators=(",", ":")).encode()
        return self.exchange(
            subjects.direct_get(stream).encode(),
            payload,
            timeout,
            lambda conn, reply_to, deadline: self._replies(conn, reply_to, deadline, single),
        )

    def exchange(
        self,
        subject: bytes,
        payload: bytes,
        timeout: float,
        collect: Callable[[Connection, bytes, float], T],
    ) -> T:
        """Publish a request on a pooled connection; `collect` reads the replies.

        A pooled connection the server closed meanwhile (a restart) is found out on its
        first use: the request is then made once more on a new connection.
        """
        try:
            return self._exchange_once(subject, payload, timeout, collect)
        except _StaleConnection:
            self._drop_idle()  # the others were opened before the same restart: stale too
            return self._exchange_once(subject, payload, timeout, collect)

    def _drop_idle(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
            for conn in idle:
                self._all.discard(conn)
        for conn in idle:
            with contextlib.suppress(OSError):
                conn.sock.close()

    def _exchange_once(
        self,
        subject: bytes,
        payload: bytes,
        timeout: float,
        collect: Callable[[Connection, bytes, float], T],
    ) -> T:
        deadline = time.monotonic() + timeout
        conn = self._checkout(timeout)
        reused = conn.next_id > 0
        conn.next_id += 1
        reply_to = b"%s.%d" % (conn.inbox, conn.next_id)
        try:
            conn.sock.sendall(
                b"PUB %s %s %d\r\n%s\r\n" % (subject, reply_to, len(payload), payload)
            )
            result = collect(conn, reply_to, deadline)
        except TimeoutError as exc:
            self._drop(conn)
            raise TimeoutError(f"no reply from NATS within {timeout:.1f}s") from exc
        except (OSError, ValueError) as exc:
            self._drop(conn)
            if reused and not isinstance(exc, TimeoutError):
                raise _StaleConnection(str(exc)) from exc
            raise ConnectionError(f"NATS request failed: {exc}") from exc
        except DirectGetError:
            self._checkin(conn)
            raise
        self._checkin(conn)
        return result

    def _replies(
        self, conn: Connection, reply_to: bytes, deadline: float, single: bool
    ) -> tuple[list[RawMsg], int]:
        msgs: list[RawMsg] = []
        buf = conn.buf
        pos = 0
        while True:
            end = buf.find(_CRLF, pos)
            if end < 0 or not buf.startswith(b"HMSG ", pos):
                buf, pos = self._control(conn.sock, buf, pos, end, deadline)
                continue
            parts = buf[pos + 5 : end].split(b" ")
            hdr_len, total = int(parts[-2]), int(parts[-1])
            start = end + 2
            if len(buf) < start + total + 2:
                buf = self._more(conn.sock, buf[pos:], deadline)
                pos = 0
                continue
            pos = start + total + 2
            if parts[0] != reply_to:
                continue  # a late reply to a request that timed out
            block = buf[start : start + hdr_len]
            if self._keys is None:
                status, headers = parse_headers(block)
            else:
                status, headers = pick_headers(block, self._keys)
            if status == 0:
                msgs.append(
                    RawMsg(
                        headers.pop("Nats-Subject", ""),
                        int(headers.pop("Nats-Sequence", "0")),
                        headers,
                        buf[start + hdr_len : start + total],
                    )
                )
                if not single:
                    continue
            conn.buf = buf[pos:]
            return msgs, _pending(status, headers, block[:200])

    def _control(
        self, sock: socket.socket, buf: bytes, pos: int, end: int, deadline: float
    ) -> tuple[bytes, int]:
        """Handle a protocol line other than HMSG (or read more); return (buf, pos)."""
        if end < 0:
            return self._more(sock, buf[pos:], deadline), 0
        line = buf[pos:end]
        pos = end + 2
        if line == b"PING":
            sock.sendall(b"PONG\r\n")
        elif line.startswith(b"-ERR"):
            raise ValueError(f"NATS error: {line.decode(errors='replace')}")
        elif line.startswith(b"MSG "):
            size = int(line.rsplit(b" ", 1)[1])
            while len(buf) < pos + size + 2:
                buf = self._more(sock, buf, deadline)
            pos += size + 2
        return buf, pos

    def next_frame(self, conn: Connection, deadline: float) -> tuple[list[bytes], bytes, bytes]:
        """The next MSG/HMSG at `conn.pos`: (line tokens after the verb, header block, body).

        Advances `conn.pos`; the caller compacts `conn.buf` when it is done.
        """
        while True:
            buf, pos = conn.buf, conn.pos
            end = buf.find(_CRLF, pos)
            is_msg = buf.startswith((b"HMSG ", b"MSG "), pos)
            if end < 0 or not is_msg:
                conn.buf, conn.pos = self._control(conn.sock, buf, pos, end, deadline)
                continue
            headers = buf[pos] == ord("H")
            parts = buf[pos + (5 if headers else 4) : end].split(b" ")
            total = int(parts[-1])
            hdr_len = int(parts[-2]) if headers else 0
            start = end + 2
            if len(buf) < start + total + 2:
                conn.buf, conn.pos = self._more(conn.sock, buf[pos:], deadline), 0
                continue
            conn.pos = start + total + 2
            return parts, buf[start : start + hdr_len], buf[start + hdr_len : start + total]

    def headers_of(self, block: bytes) -> tuple[int, dict[str, str]]:
        """Status and headers of a header block (only the configured keys, if any)."""
        return parse_headers(block) if self._keys is None else pick_headers(block, self._keys)

    @staticmethod
    def _more(sock: socket.socket, buf: bytes, deadline: float) -> bytes:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        sock.settimeout(remaining)
        chunk = sock.recv(_RECV)
        if not chunk:
            raise OSError("NATS closed the connection")
        return buf + chunk if buf else chunk

    def _checkout(self, timeout: float) -> Connection:
        with self._lock:
            if self._closed:
                raise ConnectionError("direct-get client closed")
            if self._idle:
                return self._idle.pop()
        conn = self._connect_any(min(timeout, CONNECT_TIMEOUT))
        with self._lock:
            self._all.add(conn)
        return conn

    def _checkin(self, conn: Connection) -> None:
        with self._lock:
            if conn in self._all:
                self._idle.append(conn)
                return
        with contextlib.suppress(OSError):  # closed meanwhile
            conn.sock.close()

    def _connect_any(self, timeout: float) -> Connection:
        """Connect to the first server that answers, starting with the last that did."""
        failure: BaseException | None = None
        for target in self._servers.order():
            try:
                conn = self._connect(target, timeout)
            except TimeoutError as exc:
                failure = TimeoutError(f"cannot reach NATS at {target}")
                failure.__cause__ = exc
            except (OSError, ssl.SSLError) as exc:
                failure = ConnectionError(f"cannot reach NATS at {target}: {exc}")
                failure.__cause__ = exc
            else:
                self._servers.worked(target)
                return conn
        assert failure is not None
        raise failure

    def _connect(self, target: Endpoint, timeout: float) -> Connection:
        sock: socket.socket = socket.create_connection((target.host, target.port), timeout=timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            deadline = time.monotonic() + timeout
            buf = b""
            while _CRLF not in buf:
                buf = self._more(sock, buf, deadline)
            line, _, buf = buf.partition(_CRLF)
            context, fields = handshake(target, self._auth, parse_info(line))
            if context is not None:
                sock = context.wrap_socket(sock, server_hostname=target.host)
            inbox = f"{self._auth.inbox_prefix()}.{secrets.token_hex(8)}".encode()
            sock.sendall(connect_command(fields, inbox))
            while True:
                while _CRLF not in buf:
                    buf = self._more(sock, buf, deadline)
                line, _, buf = buf.partition(_CRLF)
                if line.startswith(b"PONG"):
                    break
                if not line.startswith((b"+OK", b"INFO", b"PING")):
                    raise ConnectionError(f"NATS refused the connection: {line.strip()!r}")
        except BaseException:
            sock.close()
            raise
        conn = Connection(sock, inbox)
        conn.buf = buf
        return conn

    def _drop(self, conn: Connection) -> None:
        with self._lock:
            self._all.discard(conn)
        with contextlib.suppress(OSError):
            conn.sock.close()
