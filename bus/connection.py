"""Connect to NATS with mtq's settings; an unreachable server is one clear error."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import nats
from nats.aio.client import Client

log = logging.getLogger(__name__)

DEFAULT_URL: Final = "nats://127.0.0.1:4222"
URL_FILE_NAME: Final = "nats.url"
DEFAULT_DATA_DIR: Final = Path("data")


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


def resolve_url(explicit: str | None = None, data_dir: Path | None = None) -> str:
    """Pick the NATS URL: explicit, else `NATS_URL`, else the one `mtq up` wrote, else default."""
    if explicit:
        return explicit
    env = os.environ.get("NATS_URL")
    if env:
        return env
    url_file = (data_dir or DEFAULT_DATA_DIR) / URL_FILE_NAME
    if url_file.is_file():
        text = url_file.read_text(encoding="utf-8").strip()
        if text:
            return text
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


async def _log_error(exc: Exception) -> None:
    log.warning("NATS connection error: %s", exc)


async def connect(settings: ConnectSettings, **callbacks: Any) -> Client:
    """Connect, failing fast with `NatsUnavailable` if the first connection fails."""
    options: dict[str, Any] = {
        "servers": [settings.url],
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
    client._error_cb = user_error_cb or _log_error
    client.options["allow_reconnect"] = settings.allow_reconnect
    client.options["max_reconnect_attempts"] = settings.max_reconnect_attempts
    return client
