"""One wiring of mtq's parts, for `mtq up`, every `mtq X run`, the tests and the benchmarks.

In-process builders (`build_engine`, `build_projector`, `build_supervisor`) wire a part on
a NATS connection of its own; `service_specs` says how `mtq up` runs the engine, projector
and API as supervised child processes: the command line, and an environment that holds
that part's own identity and nothing else of mtq's secrets.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from agents.supervisor import Supervisor, agent_env_from, run_supervisor
from agents.supervisor.services import ServiceSpec, config_args, service_command
from bus.child_env import NATS_CLIENT, child_environment
from bus.security import identities
from config import MtqConfig
from engine.bootstrap import EngineProcess, build_engine
from mtq.http.auth import ENV_TOKENS
from mtq.system import Identities
from mtq.wiring import topology_settings
from projections.bootstrap import ProjectorProcess, build_projector, database_url

__all__ = [
    "EngineProcess",
    "ProjectorProcess",
    "ServiceWiring",
    "Supervisor",
    "agent_env_from",
    "build_engine",
    "build_projector",
    "database_url",
    "run_supervisor",
    "service_specs",
    "topology_settings",
]

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
    secrets = [ENV_TOKENS, *(w.secret_env for w in wiring.config.api.webhooks if w.secret_env)]
    api_args = ["--http", f"{shown}:{port}", "--listen-fd", str(api_socket.fileno())]
    return [
        ServiceSpec(
            name="risk engine",
            key="engine",
            command=service_command("engine", *common),
            env=_env(wiring, identities.ENGINE),
            log_dir=logs,
        ),
        ServiceSpec(
            name="projector",
            key="projector",
            command=service_command("projector", *common),
            env=_env(wiring, identities.PROJECTOR),
            log_dir=logs,
        ),
        ServiceSpec(
            name="http api",
            key="api",
            command=service_command("api", *common, *api_args, "--no-access-log"),
            env=_env(wiring, identities.HTTP_API, keep=secrets),
            pass_fds=(api_socket.fileno(),),
            log_dir=logs,
        ),
    ]
