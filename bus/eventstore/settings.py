"""Settings of the JetStream event store, read from the application's environment."""

from __future__ import annotations

import re
from dataclasses import dataclass

from eventsourcing.utils import Environment, strtobool

from bus.subjects import STREAM_RISK

DEFAULT_URL = "nats://127.0.0.1:4222"
DEFAULT_TIMEOUT = 5.0
_NON_TOKEN = re.compile(r"[^a-z0-9_-]+")


def _name_token(name: str) -> str:
    token = _NON_TOKEN.sub("_", name.lower()).strip("_")
    return token or "app"


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
    """

    url: str = DEFAULT_URL
    stream: str = STREAM_RISK
    prefix: str = "risk.application"
    timeout: float = DEFAULT_TIMEOUT
    create_stream: bool = True
    replicas: int = 1

    @classmethod
    def from_env(cls, env: Environment) -> Settings:
        stream = env.get("NATS_STREAM") or STREAM_RISK
        default_prefix = f"{_name_token(stream)}.{_name_token(env.name or 'application')}"
        create = env.get("NATS_CREATE_STREAM") or env.get("CREATE_TABLE") or "yes"
        return cls(
            url=env.get("NATS_URL") or DEFAULT_URL,
            stream=stream,
            prefix=(env.get("NATS_SUBJECT_PREFIX") or default_prefix).strip("."),
            timeout=float(env.get("NATS_TIMEOUT") or DEFAULT_TIMEOUT),
            create_stream=strtobool(create),
            replicas=int(env.get("NATS_STREAM_REPLICAS") or 1),
        )
