"""Agent supervisor: one process per account, health from heartbeats, restarts with backoff."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from agents.supervisor.backoff import Backoff
from agents.supervisor.errors import UnknownAccount
from agents.supervisor.health import Health, HealthReport, Reason, derive_health
from agents.supervisor.policy import RestartPolicy
from agents.supervisor.supervisor import Supervisor
from bus.connection import connect, settings_from_env
from config import MtqConfig

__all__ = [
    "Backoff",
    "Health",
    "HealthReport",
    "Reason",
    "RestartPolicy",
    "Supervisor",
    "UnknownAccount",
    "derive_health",
    "run_supervisor",
]


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
    nc = await connect(settings_from_env(nats_url, name="mtq-supervisor"))
    supervisor = Supervisor(
        config, nc, config_paths=config_paths, nats_url=nats_url, data_dir=data_dir, policy=policy
    )
    try:
        await supervisor.start()
        await stop.wait()
    finally:
        try:
            await supervisor.stop()
        finally:
            await nc.drain()
