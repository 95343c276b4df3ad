"""One wiring of mtq's parts, for `mtq up`, every `mtq X run`, the tests and the benchmarks.

In-process builders wire a part on a NATS connection of its own: `build_engine`,
`build_projector` (each in its package's `bootstrap`), `build_api` and `build_supervisor`.
`service_specs` says how `mtq up` runs the engine, projector and API as supervised child
processes: the command line, and an environment that holds that part's own identity and
nothing else of mtq's secrets.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from agents.supervisor import Supervisor, build_supervisor, run_supervisor
from agents.supervisor.services import ServiceSpec, config_args, service_command
from bus.child_env import NATS_CLIENT, child_environment
from bus.connection import connect, settings_from_env
from bus.security import identities
from bus.security.authdir import default_auth_dir
from bus.security.client import ClientAuth
from bus.topology import DAY, TopologyReport, TopologySettings, ensure_topology
from config import MtqConfig
from config.errors import ConfigError
from config.models import env_pieces
from engine.bootstrap import EngineProcess, build_engine, engine_rules
from mtq.http.alerts import DB_FILE_NAME as ALERTS_FILE
from mtq.http.auth import ENV_TOKENS, tokens_from_env
from mtq.http.notify import build_targets
from mtq.http.server import ApiServer
from mtq.http.state import ApiSettings
from mtq.system import Identities
from projections.bootstrap import ProjectorProcess, build_projector, database_url, log_ends

__all__ = [
    "EngineProcess",
    "ProjectorProcess",
    "ServiceWiring",
    "Supervisor",
    "api_auth",
    "api_settings",
    "build_api",
    "build_engine",
    "build_projector",
    "build_supervisor",
    "check_api_secrets",
    "database_url",
    "engine_rules",
    "log_ends",
    "provision",
    "run_supervisor",
    "service_specs",
    "topology_settings",
]


async def provision(
    config: MtqConfig | None, nats_url: str, auth: ClientAuth | None = None
) -> TopologyReport:
    """Create or update the streams, KV bucket and DLQ for `config`'s retention settings."""
    nc = await connect(settings_from_env(nats_url, name="mtq-provision", auth=auth))
    try:
        return await ensure_topology(nc.jetstream(), topology_settings(config))
    finally:
        await nc.close()


def api_auth(data: Path) -> ClientAuth | None:
    """The `api` identity that `mtq up` generated in the data dir, if there is one."""
    creds = default_auth_dir(data).creds(identities.HTTP_API)
    return ClientAuth(creds_file=str(creds)) if creds.is_file() else None


def check_api_secrets(config: MtqConfig) -> None:
    """TokenFormatError on a bad `MTQ_API_TOKENS`, ConfigError (naming the config) on a
    notification URL that cannot be used: what the API needs from its environment."""
    tokens_from_env(os.environ.get(ENV_TOKENS))
    try:
        build_targets(config.alerts.notify, os.environ)
    except ConfigError as exc:
        raise ConfigError(f"{', '.join(config.source) or 'config'}: {exc}") from None


def api_settings(  # noqa: PLR0917 - the parts of one settings object
    config: MtqConfig,
    nats_url: str | None,
    data: Path,
    address: tuple[str, int],
    db: str | None,
    auth: ClientAuth | None,
) -> ApiSettings:
    """The API's settings for a config, data dir and address; TokenFormatError on bad
    `MTQ_API_TOKENS`, ConfigError (naming the config) on an unusable notification URL."""
    check_api_secrets(config)
    host, port = address
    return ApiSettings.from_config(
        config,
        database_url(db, data),
        nats_url=nats_url,
        nats_auth=auth,
        host=host,
        port=port,
        alerts_db=data / ALERTS_FILE,
    )


def build_api(
    settings: ApiSettings, *, access_log: bool = False, sock: socket.socket | None = None
) -> ApiServer:
    """The HTTP API and dashboard for `settings`, on `sock` if given (bound already)."""
    return ApiServer(settings, access_log=access_log, sock=sock)


def topology_settings(config: MtqConfig | None) -> TopologySettings:
    """Stream retention settings from the config's `streams` section."""
    if config is None:
        return TopologySettings()
    streams = config.streams
    return TopologySettings(
        ticks_max_age_s=streams.ticks_max_age_hours * 3600.0,
        dlq_max_age_s=streams.dlq_max_age_days * DAY,
        replicas=streams.replicas,
    )


CHILD_LOG_LEVEL = "WARNING"
"""Children of `mtq up` log warnings and errors; their lines reach its console."""


@dataclass(frozen=True)
class ServiceWiring:
    """What the service children of one `mtq up` share."""

    config: MtqConfig
    config_paths: Sequence[Path]
    nats_url: str
    data_dir: Path
    identities: Identities


def _env(wiring: ServiceWiring, identity: str, keep: Sequence[str] = ()) -> dict[str, str]:
    own = wiring.identities.service_env(identity)
    shared = () if wiring.identities.secured else NATS_CLIENT
    return child_environment(own, keep=[*keep, *shared])


def api_secret_names(config: MtqConfig) -> list[str]:
    """The variables the API reads its secrets from: webhook signing secrets and the
    `${NAME}` pieces of notification URLs (`MTQ_API_TOKENS` aside)."""
    names = [w.secret_env for w in config.api.webhooks if w.secret_env]
    names += [s.secret_env for s in config.strategies]  # signal HMACs: checked by the API only
    for target in config.alerts.notify:
        names += env_pieces(target.url)
    return list(dict.fromkeys(names))


def service_specs(wiring: ServiceWiring, api_socket: socket.socket) -> list[ServiceSpec]:
    """The engine, projector and API children, in start order.

    The API serves on `api_socket`, bound by `mtq up` before its banner, so its address
    is known at once and stays the same across restarts of the API process.
    """
    common = [*config_args(wiring.config_paths, wiring.nats_url, wiring.data_dir)]
    common += ["--log-level", CHILD_LOG_LEVEL]
    logs = wiring.data_dir / "logs"
    host, port = api_socket.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    secrets = [ENV_TOKENS, *api_secret_names(wiring.config)]
    api_args = ["--http", f"{shown}:{port}", "--listen-fd", str(api_socket.fileno())]
    hung_after = wiring.config.supervisor.service_liveness_timeout_s
    return [
        ServiceSpec(
            name="risk engine",
            key="engine",
            command=service_command("engine", *common),
            env=_env(wiring, identities.ENGINE),
            log_dir=logs,
            liveness_timeout_s=hung_after,
        ),
        ServiceSpec(
            name="projector",
            key="projector",
            command=service_command("projector", *common),
            env=_env(wiring, identities.PROJECTOR),
            log_dir=logs,
            liveness_timeout_s=hung_after,
        ),
        ServiceSpec(
            name="http api",
            key="api",
            command=service_command("api", *common, *api_args, "--no-access-log"),
            env=_env(wiring, identities.HTTP_API, keep=secrets),
            pass_fds=(api_socket.fileno(),),
            log_dir=logs,
            liveness_timeout_s=hung_after,
        ),
    ]
