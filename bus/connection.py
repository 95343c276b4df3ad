"""Connect to NATS with mtq's settings; an unreachable server is one clear error."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

import nats
from nats.aio.client import Client

from bus.datadir import owner_running, write_atomic
from bus.security.authdir import default_auth_dir
from bus.security.client import BadCredentials, BadTlsFiles, ClientAuth, TlsFiles

log = logging.getLogger(__name__)

DEFAULT_URL: Final = "nats://127.0.0.1:4222"
URL_FILE_NAME: Final = "nats.url"
TLS_FILE_NAME: Final = "nats-tls.json"
DEFAULT_DATA_DIR: Final = Path("data")
URL_SCHEMES: Final = ("nats", "tls", "ws", "wss")


class NatsUnavailable(ConnectionError):
    """NATS could not be reached; the message names the URL and the cause."""


class BadNatsCredentials(NatsUnavailable):
    """Credentials or TLS files that cannot be used, or that the server refused."""


@dataclass(frozen=True)
class ConnectSettings:
    """Where and as whom to connect.

    With no credentials and no TLS set here, `connect()` takes them from the environment
    (`NATS_CREDS`, `NATS_USER`/`NATS_PASSWORD`, `NATS_TLS_CA`/`_CERT`/`_KEY`): that is how a
    process the supervisor starts gets its own identity.
    """

    url: str = DEFAULT_URL
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    creds_file: str | None = None
    name: str = "mtq"
    connect_timeout: float = 3.0
    max_reconnect_attempts: int = -1
    reconnect_time_wait: float = 1.0
    allow_reconnect: bool = True
    tls: TlsFiles | None = None

    def redacted_url(self) -> str:
        return redact_url(self.url)

    @property
    def auth(self) -> ClientAuth:
        return ClientAuth(
            creds_file=self.creds_file, user=self.user, password=self.password, tls=self.tls
        )

    def with_env_defaults(self) -> ConnectSettings:
        """These settings, with credentials and TLS from the environment where none are set."""
        settings = self
        if self.auth.anonymous:
            env = env_auth()
            settings = replace(
                settings, creds_file=env.creds_file, user=env.user, password=env.password
            )
        if settings.tls is None:
            settings = replace(settings, tls=env_tls())
        return settings


def redact_url(url: str) -> str:
    """The URL(s) with any user, password or token replaced by `***`."""
    return ",".join(_redact_one(part) for part in url.split(","))


def _redact_one(url: str) -> str:
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"


class BadNatsUrl(NatsUnavailable):
    """A NATS URL mtq cannot use; the message says why and what would work."""


def check_url(url: str, *, source: str = "--nats-url") -> str:
    """Return `url` (comma-separated servers allowed) or raise `BadNatsUrl` naming `source`."""
    for server in url.split(","):
        scheme, sep, rest = server.strip().partition("://")
        if not sep or scheme.lower() not in URL_SCHEMES:
            shown = ", ".join(f"{s}://" for s in URL_SCHEMES)
            raise BadNatsUrl(
                f"{source} {redact_url(server.strip())!r} is not a NATS URL: it must start with "
                f"{shown} (e.g. nats://127.0.0.1:4222)"
            )
        if not rest.rsplit("@", 1)[-1].strip("/"):
            raise BadNatsUrl(f"{source} {redact_url(server.strip())!r} names no host")
    return url


# The data dir each resolved URL was looked up for, so that `settings_from_env(url)` finds
# that dir's admin credentials (one CLI command resolves one URL, then connects).
_resolved_in: dict[str, Path] = {}


def _running_url(directory: Path) -> str | None:
    """The URL a live owner of `directory` wrote, if any."""
    url_file = directory / URL_FILE_NAME
    if url_file.is_file() and owner_running(directory):
        text = url_file.read_text(encoding="utf-8").strip()
        return check_url(text, source=str(url_file)) if text else None
    return None


def resolve_url(explicit: str | None = None, data_dir: Path | None = None) -> str:
    """Pick the NATS URL: explicit, else `NATS_URL`, else the one `mtq up` wrote, else default.

    The URL file is trusted only while the data dir's owner (the lock holder) is alive: a
    file a SIGKILLed `mtq up` left behind names a server that is gone.
    """
    directory = data_dir or DEFAULT_DATA_DIR
    env = os.environ.get("NATS_URL")
    if explicit:
        url = check_url(explicit)
    elif env:
        url = check_url(env, source="NATS_URL")
    else:
        url = _running_url(directory) or DEFAULT_URL
    _resolved_in[url] = directory
    return url


def env_auth() -> ClientAuth:
    """Credentials from `NATS_CREDS`, else `NATS_USER`/`NATS_PASSWORD` (else none)."""
    creds = os.environ.get("NATS_CREDS") or None
    if creds and not Path(creds).is_file():
        raise BadNatsCredentials(f"NATS credentials file {creds} (from NATS_CREDS) does not exist")
    if creds:
        return ClientAuth(creds_file=creds)
    return ClientAuth(
        user=os.environ.get("NATS_USER") or None, password=os.environ.get("NATS_PASSWORD") or None
    )


def env_tls() -> TlsFiles | None:
    """TLS files from `NATS_TLS_CA`, `NATS_TLS_CERT`, `NATS_TLS_KEY` (None if none is set)."""
    ca, cert, key = (os.environ.get(f"NATS_TLS_{k}") or None for k in ("CA", "CERT", "KEY"))
    return TlsFiles(ca=ca, cert=cert, key=key) if (ca or cert or key) else None


def write_client_tls(data_dir: Path, tls: TlsFiles) -> Path:
    """Record the CA clients of this data dir's server trust (removed by the owner)."""
    path = data_dir / TLS_FILE_NAME
    ca = str(Path(tls.ca).resolve()) if tls.ca else None
    write_atomic(path, json.dumps({"ca": ca}) + "\n")
    return path


def data_dir_tls(data_dir: Path) -> TlsFiles | None:
    """The TLS trust a running `mtq up` of `data_dir` recorded, if any."""
    path = data_dir / TLS_FILE_NAME
    if not path.is_file() or not owner_running(data_dir):
        return None
    try:
        ca = json.loads(path.read_text(encoding="utf-8")).get("ca")
    except (OSError, ValueError, AttributeError):
        return None
    return TlsFiles(ca=ca) if ca else None


def data_dir_auth(url: str, data_dir: Path) -> ClientAuth:
    """The admin credentials of a running `mtq up` in `data_dir`, if `url` is its server."""
    creds = default_auth_dir(data_dir).admin_creds
    running = _running_url(data_dir)
    if running is not None and running == url and creds.is_file():
        return ClientAuth(creds_file=str(creds))
    return ClientAuth()


def settings_from_env(
    url: str | None = None,
    *,
    name: str = "mtq",
    data_dir: Path | None = None,
    auth: ClientAuth | None = None,
) -> ConnectSettings:
    """Settings for `url` as `auth`, else as the environment says, else as the data dir says.

    Credentials: `auth`, else `NATS_CREDS`, else `NATS_USER`/`NATS_PASSWORD`, else the admin
    identity of the running `mtq up` whose server `url` is. TLS likewise: `auth.tls`, else
    `NATS_TLS_*`, else the CA that `mtq up --tls-ca` recorded in its data dir.
    """
    resolved = check_url(url) if url and data_dir is None else resolve_url(url, data_dir)
    directory = data_dir or _resolved_in.get(resolved, DEFAULT_DATA_DIR)
    chosen = auth or ClientAuth()
    if chosen.anonymous:
        env = env_auth()
        chosen = env if not env.anonymous else data_dir_auth(resolved, directory)
        chosen = replace(chosen, tls=(auth.tls if auth else None))
    tls = chosen.tls or env_tls() or data_dir_tls(directory)
    return ConnectSettings(
        url=resolved,
        user=chosen.user,
        password=chosen.password,
        creds_file=chosen.creds_file,
        tls=tls,
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


def _auth_options(settings: ConnectSettings) -> dict[str, Any]:
    try:
        return settings.auth.nats_options()
    except (BadCredentials, BadTlsFiles) as exc:
        raise BadNatsCredentials(str(exc)) from None


def _refusal(settings: ConnectSettings, cause: str) -> NatsUnavailable:
    url = settings.redacted_url()
    lowered = cause.lower()
    if "authorization" in lowered or "authentication" in lowered:
        who = settings.auth.describe()
        hint = (
            "; the server requires credentials: set NATS_CREDS, or run next to the data dir "
            "of the `mtq up` that started it (--data DIR)"
            if settings.auth.anonymous
            else ""
        )
        return BadNatsCredentials(f"NATS at {url} refused {who}: authorization violation{hint}")
    if "certificate" in lowered or "ssl" in lowered or "tls" in lowered:
        trust = f"the CA in {settings.tls.ca}" if settings.tls and settings.tls.ca else "no CA"
        return BadNatsCredentials(f"TLS with NATS at {url} failed (trusting {trust}): {cause}")
    return NatsUnavailable(f"cannot reach NATS at {url}: {cause}")


async def connect(settings: ConnectSettings, **callbacks: Any) -> Client:
    """Connect, failing fast with `NatsUnavailable` if the first connection fails."""
    check_url(settings.url)
    settings = settings.with_env_defaults()
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
        **_auth_options(settings),
        **callbacks,
    }

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
        raise _refusal(settings, cause) from exc
    outage.client = client
    client._error_cb = user_error_cb or outage.error
    client.options["allow_reconnect"] = settings.allow_reconnect
    client.options["max_reconnect_attempts"] = settings.max_reconnect_attempts
    return client
