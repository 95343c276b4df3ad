"""Agent supervisor: one process per account, health from heartbeats, restarts with backoff."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from pathlib import Path

from agents.supervisor.backoff import Backoff
from agents.supervisor.errors import UnknownAccount
from agents.supervisor.health import Health, HealthReport, Reason, derive_health
from agents.supervisor.policy import RestartPolicy
from agents.supervisor.process import credentials_env
from agents.supervisor.supervisor import AgentEnv, Supervisor
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
    supervisor = Supervisor(
        config,
        nc,
        config_paths=config_paths,
        nats_url=nats_url,
        data_dir=data_dir,
        policy=policy,
        agent_env=agent_env_from(data_dir),
    )
    try:
        await supervisor.start()
        await stop.wait()
    finally:
        try:
            await supervisor.stop()
        finally:
            await nc.drain()
