"""Agent supervisor: one process per account, health from heartbeats, restarts with backoff."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from pathlib import Path

from nats.aio.client import Client

from agents.supervisor.errors import UnknownAccount
from agents.supervisor.health import Health, HealthReport, Reason, derive_health
from agents.supervisor.policy import RestartPolicy
from agents.supervisor.process import credentials_env
from agents.supervisor.services import ServiceRunner
from agents.supervisor.supervisor import AgentEnv, Supervisor
from bus.backoff import Backoff
from bus.connection import connect, env_tls, settings_from_env
from bus.security.authdir import default_auth_dir
from bus.security.identities import agent_name
from config import MtqConfig

__all__ = [
    "Backoff",
    "Health",
    "HealthReport",
    "Reason",
    "RestartPolicy",
    "Supervisor",
    "UnknownAccount",
    "agent_env_from",
    "build_supervisor",
    "derive_health",
    "run_supervisor",
]

AGENT_CREDS_DIR_ENV = "MTQ_AGENT_CREDS_DIR"


def agent_env_from(data_dir: Path) -> AgentEnv | None:
    """Each agent's own credentials: `agent-<acct>.creds` in `MTQ_AGENT_CREDS_DIR`, else in
    the data dir's `auth/creds` (as `mtq up` and `mtq nats auth generate` write them)."""
    configured = os.environ.get(AGENT_CREDS_DIR_ENV)
    creds_dir = Path(configured) if configured else default_auth_dir(data_dir).path / "creds"
    if not creds_dir.is_dir():
        return None
    tls = env_tls()

    def env(account_id: str) -> dict[str, str]:
        return credentials_env(creds_dir / f"{agent_name(account_id)}.creds", tls)

    return env


def build_supervisor(
    config: MtqConfig,
    nc: Client,
    *,
    config_paths: Sequence[str | Path],
    nats_url: str,
    data_dir: Path,
    policy: RestartPolicy | None = None,
    agent_env: AgentEnv | None = None,
    services: Sequence[ServiceRunner] = (),
) -> Supervisor:
    """The agent supervisor on `nc`. Each agent gets its own identity: `agent_env`, by
    default the data dir's (`agent_env_from`); `services` are listed beside the agents."""
    return Supervisor(
        config,
        nc,
        config_paths=config_paths,
        nats_url=nats_url,
        data_dir=data_dir,
        policy=policy,
        agent_env=agent_env if agent_env is not None else agent_env_from(data_dir),
        services=services,
    )


async def run_supervisor(
    config: MtqConfig,
    *,
    config_paths: Sequence[str | Path],
    nats_url: str,
    data_dir: Path,
    stop: asyncio.Event,
    policy: RestartPolicy | None = None,
) -> None:
    """Supervise every enabled account's agent until `stop` is set, then stop them all."""
    nc = await connect(settings_from_env(nats_url, name="mtq-supervisor", data_dir=data_dir))
    supervisor = build_supervisor(
        config,
        nc,
        config_paths=config_paths,
        nats_url=nats_url,
        data_dir=data_dir,
        policy=policy,
    )
    try:
        await supervisor.start()
        await stop.wait()
    finally:
        try:
            await supervisor.stop()
        finally:
            await nc.drain()
