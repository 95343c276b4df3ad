"""Batched JetStream direct gets over a minimal NATS protocol connection.

nats-py has no helper for `$JS.API.DIRECT.GET.<stream>` batches and decodes each reply
message at ~60 µs; reading event logs needs far less. This client speaks just enough of the
NATS protocol (CONNECT, PING/PONG, SUB, PUB, HMSG) to send direct-get requests and parse
the replies. It runs on the event store's loop; one connection serves concurrent requests.

Like nats-py it authenticates (credentials file: the server's nonce signed with the user's
seed; or user and password), upgrades to TLS after the server's INFO when the server or
the URL asks for it, and tries every server of a comma-separated URL in turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import ssl
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from urllib.parse import unquote, urlsplit

from bus import subjects
from bus.security.client import ClientAuth

_CRLF = b"\r\n"
CONNECT_TIMEOUT = 2.0


class DirectGetError(Exception):
    """The server answered a direct get with an error status."""


class RawMsg(NamedTuple):
    """One stored message as returned by a direct get."""

    subject: str
    seq: int
    headers: dict[str, str]
    data: bytes


@dataclass
class _Request:
    single: bool
    future: asyncio.Future[tuple[list[RawMsg], int]]
    msgs: list[RawMsg] = field(default_factory=list)


def parse_headers(block: bytes) -> tuple[int, dict[str, str]]:
    """Split `NATS/1.0[ code text]\\r\\nK: V...` into (status code or 0, headers)."""
    lines = block.decode(errors="replace").split("\r\n")
    first = lines[0]
    status = int(first[9:12]) if len(first) >= 12 else 0
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            key, _, value = line.partition(":")
            headers[key] = value.strip()
    return status, headers


def connect_command(auth: dict[str, str], inbox: bytes) -> bytes:
    """CONNECT with headers on, then a subscription to the reply inbox and a PING."""
    options = {
        "verbose": False,
        "pedantic": False,
        "headers": True,
        "no_responders": True,
        "protocol": 1,
        "lang": "mtq-directget",
        "version": "1",
        **auth,
    }
    return b"CONNECT %s\r\nSUB %s.* 1\r\nPING\r\n" % (json.dumps(options).encode(), inbox)


@dataclass(frozen=True)
class Endpoint:
    """One server of a URL: where it is, whether the URL asks for TLS, its URL credentials."""

    host: str
    port: int
    tls: bool = False
    url_auth: dict[str, str] = field(default_factory=dict, repr=False)

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def endpoints(url: str) -> list[Endpoint]:
    """Every server in a comma-separated `url` (`nats://` or `tls://`), in order."""
    found: list[Endpoint] = []
    for server in url.split(","):
        text = server.strip()
        if not text:
            continue
        if "://" not in text:
            text = f"nats://{text}"
        parts = urlsplit(text)
        if parts.scheme not in ("nats", "tls"):
            raise ValueError(f"direct gets support nats:// and tls:// URLs, not {parts.scheme!r}")
        auth: dict[str, str] = {}
        if parts.username and parts.password is not None:
            auth = {"user": unquote(parts.username), "pass": unquote(parts.password)}
        elif parts.username:
            auth = {"auth_token": unquote(parts.username)}
        found.append(
            Endpoint(parts.hostname or "127.0.0.1", parts.port or 4222, parts.scheme == "tls", auth)
        )
    if not found:
        raise ValueError(f"no server in NATS URL {url!r}")
    return found


def endpoint(url: str) -> tuple[str, int, dict[str, str]]:
    """Host, port and URL credentials of the first server in `url`."""
    first = endpoints(url)[0]
    return first.host, first.port, first.url_auth


def parse_info(line: bytes) -> dict[str, Any]:
    """The JSON of the server's `INFO {...}` greeting; `ConnectionError` if it is not one."""
    if not line.startswith(b"INFO"):
        raise ConnectionError(f"unexpected greeting from NATS: {line[:80]!r}")
    try:
        info: dict[str, Any] = json.loads(line[4:].strip() or b"{}")
    except ValueError as exc:
        raise ConnectionError(f"unreadable INFO from NATS: {exc}") from None
    return info


def handshake(
    target: Endpoint, auth: ClientAuth, info: dict[str, Any]
) -> tuple[ssl.SSLContext | None, dict[str, str]]:
    """The TLS context to upgrade with (None: stay plain) and the CONNECT credentials."""
    context: ssl.SSLContext | None = None
    if (
        target.tls
        or info.get("tls_required")
        or (auth.tls is not None and info.get("tls_available"))
    ):
        context = auth.ssl_context() or ssl.create_default_context()
    fields = dict(target.url_auth) or auth.connect_fields(info)
    return context, fields


class Failover:
    """Which server to try first: the last one that worked, then the others in order."""

    def __init__(self, url: str) -> None:
        self.servers = endpoints(url)
        self._good = 0

    def order(self) -> list[Endpoint]:
        return self.servers[self._good :] + self.servers[: self._good]

    def worked(self, target: Endpoint) -> None:
        self._good = self.servers.index(target)


class DirectGetClient:
    """Direct-get requests on one raw connection (reconnects on the next request)."""

    def __init__(self, url: str, auth: ClientAuth | None = None) -> None:
        self._servers = Failover(url)
        self._auth = auth or ClientAuth()
        self._inbox = f"{self._auth.inbox_prefix()}.{secrets.token_hex(8)}"
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._pending: dict[str, _Request] = {}
        self._next_id = 0
        self._lock: asyncio.Lock | None = None

    async def batch(self, stream: str, request: dict[str, Any]) -> tuple[list[RawMsg], int]:
        """Messages of a batched direct get and the count still pending after them."""
        return await self._request(stream, request, single=False)

    async def last(self, stream: str, subject: str) -> RawMsg | None:
        """The last message on `subject` (wildcards allowed), or None."""
        msgs, _ = await self._request(stream, {"last_by_subj": subject}, single=True)
        return msgs[0] if msgs else None

    async def _request(
        self, stream: str, request: dict[str, Any], *, single: bool
    ) -> tuple[list[RawMsg], int]:
        writer = await self._connected()
        self._next_id += 1
        rid = str(self._next_id)
        future: asyncio.Future[tuple[list[RawMsg], int]] = (
            asyncio.get_running_loop().create_future()
        )
        self._pending[rid] = _Request(single=single, future=future)
        payload = json.dumps(request, separators=(",", ":")).encode()
        writer.write(
            b"PUB %s %s.%s %d\r\n%s\r\n"
            % (
                subjects.direct_get(stream).encode(),
                self._inbox.encode(),
                rid.encode(),
                len(payload),
                payload,
            )
        )
        try:
            return await future
        finally:
            self._pending.pop(rid, None)

    async def _connected(self) -> asyncio.StreamWriter:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._writer is not None and not self._writer.is_closing():
                return self._writer
            error: Exception = ConnectionError("no NATS server to try")
            for target in self._servers.order():
                try:
                    reader, writer = await asyncio.wait_for(self._open(target), CONNECT_TIMEOUT)
                except (OSError, TimeoutError, ssl.SSLError) as exc:
                    error = exc
                    continue
                self._servers.worked(target)
                self._writer = writer
                self._reader_task = asyncio.get_running_loop().create_task(self._read(reader))
                return writer
            raise error

    async def _open(self, target: Endpoint) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await asyncio.open_connection(target.host, target.port)
        try:
            info = parse_info(await reader.readline())
            context, fields = handshake(target, self._auth, info)
            if context is not None:
                await writer.start_tls(context, server_hostname=target.host)
            writer.write(connect_command(fields, self._inbox.encode()))
            line = await reader.readline()
            while line.startswith((b"+OK", b"INFO")):
                line = await reader.readline()
            if not line.startswith(b"PONG"):
                raise ConnectionError(f"NATS at {target} refused the connection: {line.strip()!r}")
        except BaseException:
            writer.close()
            raise
        return reader, writer

    async def _read(self, reader: asyncio.StreamReader) -> None:
        buf = b""
        error: BaseException = ConnectionError("NATS connection closed")
        try:
            while True:
                chunk = await reader.read(262144)
                if not chunk:
                    break
                buf = self._consume(buf + chunk) if buf else self._consume(chunk)
        except (OSError, ValueError) as exc:
            error = exc
        finally:
            self._close(error)

    def _consume(self, buf: bytes) -> bytes:
        """Handle every complete protocol frame in `buf`; return the incomplete rest."""
        pos = 0
        size = len(buf)
        while pos < size:
            end = buf.find(_CRLF, pos)
            if end < 0:
                break
            line = buf[pos:end]
            if line.startswith(b"HMSG"):
                parts = line.split(b" ")
                hdr_len, total = int(parts[-2]), int(parts[-1])
                body_start = end + 2
                if body_start + total + 2 > size:
                    break
                self._deliver(
                    parts[1],
                    buf[body_start : body_start + hdr_len],
                    buf[body_start + hdr_len : body_start + total],
                )
                pos = body_start + total + 2
                continue
            if line.startswith(b"MSG"):
                total = int(line.rsplit(b" ", 1)[1])
                if end + 2 + total + 2 > size:
                    break
                pos = end + 2 + total + 2
                continue
            if line == b"PING" and self._writer is not None:
                self._writer.write(b"PONG\r\n")
            elif line.startswith(b"-ERR"):
                raise ValueError(f"NATS error: {line.decode(errors='replace')}")
            pos = end + 2
        return buf[pos:]

    def _deliver(self, subject: bytes, header_block: bytes, data: bytes) -> None:
        rid = subject.rsplit(b".", 1)[1].decode()
        request = self._pending.get(rid)
        if request is None or request.future.done():
            return
        status, headers = parse_headers(header_block)
        if status == 0:
            msg = RawMsg(
                headers.pop("Nats-Subject", ""),
                int(headers.pop("Nats-Sequence", "0")),
                headers,
                data,
            )
            request.msgs.append(msg)
            if request.single:
                request.future.set_result((request.msgs, 0))
        elif status == 204:  # end of batch
            request.future.set_result((request.msgs, int(headers.get("Nats-Num-Pending", "0"))))
        elif status == 404:  # nothing (more) matches
            request.future.set_result((request.msgs, 0))
        elif status == 503:
            request.future.set_exception(ConnectionError("no responders for direct get"))
        else:
            request.future.set_exception(
                DirectGetError(f"direct get failed: {header_block[:200]!r}")
            )

    def close(self) -> None:
        """Close the connection; pending requests fail."""
        self._close(ConnectionError("direct-get client closed"))

    def _close(self, error: BaseException) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            with contextlib.suppress(Exception):
                writer.close()
        for request in list(self._pending.values()):
            if not request.future.done():
                request.future.set_exception(ConnectionError(str(error)))
