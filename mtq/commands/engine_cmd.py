"""`mtq engine run`: the risk engine and its `mtq-risk` service."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from bus.topology import TopologyConflict
from config import ConfigError
from engine.pipeline import EngineFenced
from mtq import runtime
from mtq.bootstrap import build_engine, topology_settings
from mtq.configs import ConfigPaths, load_or_exit
from mtq.options import DataOption, NatsUrlOption

app = typer.Typer(no_args_is_help=True, help="The risk engine: decisions from the fact log.")


@app.command("run")
def run_command(
    config: ConfigPaths,
    nats_url: NatsUrlOption = None,
    data: DataOption = Path("data"),
    log_level: Annotated[str, typer.Option("--log-level", help="Logging level.")] = "INFO",
) -> None:
    """Follow the MT5 facts exactly once, record decisions in RISK, send commands.

    Serves `mtq-risk` (`mtq.risk.check`, `mtq.risk.control`, `mtq.risk.show`). A second
    engine on the same NATS is fenced off: it stops with exit 1 at its first write.
    """
    runtime.configure_logging(log_level, "%(asctime)s %(levelname)s engine %(name)s: %(message)s")
    loaded = load_or_exit(config)
    url = runtime.nats_url(nats_url, data)

    async def main() -> None:
        try:
            process = await build_engine(loaded, url, topology=topology_settings(loaded))
        except TopologyConflict as exc:
            runtime.fail(str(exc), runtime.EXIT_PROBLEMS)
        except ConfigError as exc:  # the news calendar the config names
            runtime.fail(str(exc))
        stop = asyncio.Event()
        runtime.install_stop_signals(stop)
        accounts = ", ".join(sorted(process.engine.rules)) or "(no enabled account)"
        runtime.console.print(f"risk engine for {accounts} on {url}", highlight=False)
        try:
            await runtime.run_then_ready(process.run(stop), process.engine.ready)
        except EngineFenced as exc:
            runtime.fail(str(exc), runtime.EXIT_PROBLEMS)
        stats = process.engine.stats
        runtime.console.print(
            f"risk engine stopped: {stats.facts} facts, {stats.decided} decided, "
            f"{stats.rejected} rejected, {stats.commands} commands",
            highlight=False,
        )

    runtime.run(main)
