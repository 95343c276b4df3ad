"""Connect to NATS with mtq's settings; an unreachable server is one clear error."""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import nats
from nats.aio.client import Client

from bus.datadir import owner_running

log = logging.getLogger(__name__)

DEFAULT_URL: Final = "nats://127.0.0.1:4222"
URL_FILE_NAME: Final = "nats.url"
DEFAULT_DATA_DIR: Final = Path("data")
URL_SCHEMES: Final = ("nats", "tls", "ws", "wss")


class NatsUnavailable(ConnectionError):
    """NATS could not be reached; the message names the URL and the cause."""


@dataclass(frozen=True)
class ConnectSettings:
    url: str = DEFAULT_URL
    user: str | None = None
    password: str | None = None
    creds_file: str | None = None
    name: str = "mtq"
    connect_timeout: float = 3.0
    max_reconnect_attempts: int = -1
    reconnect_time_wait: float = 1.0
    allow_reconnect: bool = True

    def redacted_url(self) -> str:
        return _redact(self.url)


def _redact(url: str) -> str:
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    return f"{scheme}://***@{rest.split('@', 1)[1]}"


class BadNatsUrl(NatsUnavailable):
    """A NATS URL mtq cannot use; the message says why and what would work."""


def check_url(url: str, *, source: str = "--nats-url") -> str:
    """Return `url` (comma-separated servers allowed) or raise `BadNatsUrl` naming `source`."""
    for server in url.split(","):
        scheme, sep, rest = server.strip().partition("://")
        if not sep or scheme.lower() not in URL_SCHEMES:
            shown = ", ".join(f"{s}://" for s in URL_SCHEMES)
            raise BadNatsUrl(
                f"{source} {_redact(server.strip())!r} is not a NATS URL: it must start with "
                f"{shown} (e.g. nats://127.0.0.1:4222)"
            )
        if not rest.rsplit("@", 1)[-1].strip("/"):
            raise BadNatsUrl(f"{source} {_redact(server.strip())!r} names no host")
    return url


def resolve_url(explicit: str | None = None, data_dir: Path | None = None) -> str:
    """Pick the NATS URL: explicit, else `NATS_URL`, else the one `mtq up` wrote, else default.

    The URL file is trusted only while the data dir's owner (the lock holder) is alive: a
    file a SIGKILLed `mtq up` left behind names a server that is gone.
    """
    if explicit:
        return check_url(explicit)
    env = os.environ.get("NATS_URL")
    if env:
        return check_url(env, source="NATS_URL")
    directory = data_dir or DEFAULT_DATA_DIR
    url_file = directory / URL_FILE_NAME
    if url_file.is_file() and owner_running(directory):
        text = url_file.read_text(encoding="utf-8").strip()
        if text:
            return check_url(text, source=str(url_file))
    return DEFAULT_URL


def settings_from_env(
    url: str | None = None, *, name: str = "mtq", data_dir: Path | None = None
) -> ConnectSettings:
    """Build settings from arguments and `NATS_USER`, `NATS_PASSWORD`, `NATS_CREDS`."""
    creds = os.environ.get("NATS_CREDS") or None
    if creds and not Path(creds).is_file():
        raise NatsUnavailable(f"NATS creds file {creds} (from NATS_CREDS) does not exist")
    return ConnectSettings(
        url=resolve_url(url, data_dir),
        user=os.environ.get("NATS_USER") or None,
        password=os.environ.get("NATS_PASSWORD") or None,
        creds_file=creds,
        name=name,
    )


class _OutageLog:
    """Logs a connection outage once (lost, then back), not every failed reconnect."""

    def __init__(self, url: str, name: str) -> None:
        self.url = url
        self.name = name
        self.down = False
        self.last_error = ""
        self.client: Client | None = None

    async def error(self, exc: Exception) -> None:
        text = str(exc) or type(exc).__name__
        if self.down and text == self.last_error:
            return
        self.last_error = text
        log.warning("%s: NATS connection error at %s: %s", self.name, self.url, text)

    def lost(self) -> None:
        if self.client is not None and self.client.is_closed:
            return  # closed on purpose
        if not self.down:
            self.down = True
            log.warning("%s: NATS connection to %s lost; reconnecting", self.name, self.url)

    def back(self) -> None:
        if self.down:
            self.down = False
            self.last_error = ""
            log.warning("%s: NATS connection to %s is back", self.name, self.url)


def _chain(first: Callable[[], None], then: Any) -> Callable[[], Awaitable[None]]:
    async def callback() -> None:
        first()
        if then is not None:
            await then()

    return callback


async def connect(settings: ConnectSettings, **callbacks: Any) -> Client:
    """Connect, failing fast with `NatsUnavailable` if the first connection fails."""
    check_url(settings.url)
    outage = _OutageLog(settings.redacted_url(), settings.name)
    callbacks["disconnected_cb"] = _chain(outage.lost, callbacks.get("disconnected_cb"))
    callbacks["reconnected_cb"] = _chain(outage.back, callbacks.get("reconnected_cb"))
    options: dict[str, Any] = {
        "servers": [u.strip() for u in settings.url.split(",")],
        "name": settings.name,
        "connect_timeout": settings.connect_timeout,
        # Fail fast on the first connection; reconnecting is switched on once connected.
        "allow_reconnect": False,
        # nats-py retries the first connection forever unless this is positive.
        "max_reconnect_attempts": 1,
        "reconnect_time_wait": settings.reconnect_time_wait,
        "user": settings.user,
        "password": settings.password,
        **callbacks,
    }
    if settings.creds_file:
        options["user_credentials"] = settings.creds_file

    first_errors: list[Exception] = []
    user_error_cb = options.pop("error_cb", None)

    async def _error_cb(exc: Exception) -> None:
        first_errors.append(exc)
        if user_error_cb is not None:
            await user_error_cb(exc)

    options["error_cb"] = _error_cb
    try:
        client = await nats.connect(**options)
    except Exception as exc:
        cause_exc = first_errors[-1] if first_errors else exc
        cause = str(cause_exc) or type(cause_exc).__name__
        raise NatsUnavailable(f"cannot reach NATS at {settings.redacted_url()}: {cause}") from exc
    outage.client = client
    client._error_cb = user_error_cb or outage.error
    client.options["allow_reconnect"] = settings.allow_reconnect
    client.options["max_reconnect_attempts"] = settings.max_reconnect_attempts
    return client
