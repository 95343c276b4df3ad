"""Settings of the JetStream event store, read from the application's environment."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from eventsourcing.utils import Environment, strtobool

from bus.security.client import ClientAuth, TlsFiles
from bus.subjects import EVENTSTORE_PREFIX, STREAM_RISK

DEFAULT_URL = "nats://127.0.0.1:4222"
DEFAULT_TIMEOUT = 5.0
_NON_TOKEN = re.compile(r"[^a-z0-9_-]+")


def _name_token(name: str) -> str:
    token = _NON_TOKEN.sub("_", name.lower()).strip("_")
    return token or "app"


def auth_from_env(env: Environment) -> ClientAuth:
    """Credentials and TLS from the application's environment (see `Settings`)."""
    ca, cert, key = (env.get(f"NATS_TLS_{k}") or None for k in ("CA", "CERT", "KEY"))
    creds = env.get("NATS_CREDS") or None
    return ClientAuth(
        creds_file=creds,
        user=None if creds else env.get("NATS_USER") or None,
        password=None if creds else env.get("NATS_PASSWORD") or None,
        tls=TlsFiles(ca=ca, cert=cert, key=key) if (ca or cert or key) else None,
    )


@dataclass(frozen=True)
class Settings:
    """Where and how an application's events are stored.

    Environment variables (each may be prefixed with the upper-cased application name, as
    everywhere in the `eventsourcing` library):

    - `NATS_URL`: server URL(s), comma-separated (default `nats://127.0.0.1:4222`).
    - `NATS_STREAM`: stream name (default `RISK`).
    - `NATS_SUBJECT_PREFIX`: subject prefix of this application's records (default: the
      stream name and the application name in lower case, e.g. `risk.riskengine`).
    - `NATS_TIMEOUT`: seconds before a call fails with `OperationalError` (default 5).
    - `NATS_CREATE_STREAM` (or the library's `CREATE_TABLE`): create or extend the stream
      when missing (default yes).
    - `NATS_STREAM_REPLICAS`: replicas when creating the stream (default 1).
    - `NATS_CREDS`: a `.creds` file to authenticate with (else `NATS_USER` and
      `NATS_PASSWORD`); `NATS_TLS_CA` (and `NATS_TLS_CERT`, `NATS_TLS_KEY` for a client
      certificate): TLS. Every connection of the store uses them, its own socket clients too.
    """

    url: str = DEFAULT_URL
    stream: str = STREAM_RISK
    prefix: str = EVENTSTORE_PREFIX
    timeout: float = DEFAULT_TIMEOUT
    create_stream: bool = True
    replicas: int = 1
    auth: ClientAuth = field(default_factory=ClientAuth)

    @classmethod
    def from_env(cls, env: Environment) -> Settings:
        stream = env.get("NATS_STREAM") or STREAM_RISK
        default_prefix = f"{_name_token(stream)}.{_name_token(env.name or 'application')}"
        create = env.get("NATS_CREATE_STREAM") or env.get("CREATE_TABLE") or "yes"
        auth = auth_from_env(env)
        return cls(
            url=env.get("NATS_URL") or DEFAULT_URL,
            auth=auth,
            stream=stream,
            prefix=(env.get("NATS_SUBJECT_PREFIX") or default_prefix).strip("."),
            timeout=float(env.get("NATS_TIMEOUT") or DEFAULT_TIMEOUT),
            create_stream=strtobool(create),
            replicas=int(env.get("NATS_STREAM_REPLICAS") or 1),
        )
