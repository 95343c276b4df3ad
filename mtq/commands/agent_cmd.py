"""`mtq agent run`: one account's MT5 agent as its own process."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Annotated

import typer

from agents.agent import run_agent
from agents.supervisor.liveness import send_liveness
from config.errors import ConfigError
from config.loader import load_config
from config.models import AccountConfig
from mtq import runtime
from mtq.options import DataOption, NatsUrlOption

app = typer.Typer(no_args_is_help=True, help="The MT5 agent: terminal facts in, commands out.")


def _load_account(paths: list[Path], account_id: str) -> AccountConfig:
    try:
        account = load_config(paths).account(account_id)
        if account.password_env:
            account.resolve_password()
    except ConfigError as exc:
        runtime.fail(str(exc).replace("\n", "; "))
    return account


@app.command("run")
def run_command(
    account: Annotated[str, typer.Option("--account", "-a", help="Account id to run.")],
    config: Annotated[
        list[Path], typer.Option("--config", "-c", help="Configuration YAML file(s).")
    ],
    nats_url: NatsUrlOption = None,
    data: DataOption = Path("data"),
    log_level: Annotated[str, typer.Option("--log-level", help="Logging level.")] = "INFO",
) -> None:
    """Run the agent for ACCOUNT until SIGTERM or Ctrl-C; works without NATS (buffers)."""
    logging.basicConfig(
        level=log_level.upper(),
        format=f"%(asctime)s %(levelname)s agent[{account}] %(name)s: %(message)s",
    )
    account_config = _load_account(config, account)
    url = runtime.nats_url(nats_url, data)

    async def main() -> None:
        stop = asyncio.Event()
        runtime.install_stop_signals(stop)
        # A sign of life for the supervisor that does not need the bus (see liveness.py).
        alive = asyncio.create_task(
            send_liveness(account_config.agent.heartbeat_interval_s, stop), name="liveness"
        )
        try:
            await run_agent(account_config, nats_url=url, data_dir=data, stop=stop)
        finally:
            stop.set()
            await alive

    runtime.run(main)
