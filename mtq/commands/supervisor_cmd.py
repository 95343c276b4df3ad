"""`mtq supervisor run`: one agent process per enabled account, restarted when it fails."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Annotated

import typer

from bus.topology import TopologyConflict
from config import MtqConfig
from mtq import runtime
from mtq.bootstrap import provision, run_supervisor
from mtq.configs import ConfigPaths, load_or_exit
from mtq.options import DataOption, NatsUrlOption

app = typer.Typer(no_args_is_help=True, help="The agent supervisor and its mtq-agents service.")


async def _provision(url: str, config: MtqConfig) -> None:
    try:
        await provision(config, url)
    except TopologyConflict as exc:
        runtime.fail(str(exc), runtime.EXIT_PROBLEMS)


@app.command("run")
def run_command(
    config: ConfigPaths,
    nats_url: NatsUrlOption = None,
    data: DataOption = Path("data"),
    log_level: Annotated[str, typer.Option("--log-level", help="Logging level.")] = "INFO",
) -> None:
    """Start an agent per enabled account and keep them running until SIGTERM or Ctrl-C.

    The data dir is locked while it runs (a second supervisor on it exits 2). Agents'
    output goes to DATA/logs/agent-<account>.log. Control them with
    `nats req mtq.agents.list ''` (also start, stop, restart, validate).
    """
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s supervisor %(name)s: %(message)s"
    )
    loaded = load_or_exit(config)
    url = runtime.nats_url(nats_url, data)
    lock = runtime.lock_data_dir(data, "mtq supervisor run")

    async def main() -> None:
        await _provision(url, loaded)
        stop = asyncio.Event()
        runtime.install_stop_signals(stop)
        accounts = ", ".join(a.id for a in loaded.enabled_accounts()) or "(none enabled)"
        runtime.console.print(f"supervising {accounts} on {url}", highlight=False)
        await run_supervisor(loaded, config_paths=config, nats_url=url, data_dir=data, stop=stop)

    try:
        runtime.run(main)
    finally:
        lock.release()
