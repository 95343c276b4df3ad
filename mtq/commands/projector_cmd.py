"""`mtq projector run|rebuild`: the read models, from the MT5 and RISK logs."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bus.topology import TopologyConflict
from mtq import runtime
from mtq.bootstrap import build_projector, database_url, log_ends, topology_settings
from mtq.configs import ConfigPaths, load_or_exit
from mtq.options import DataOption, NatsUrlOption

app = typer.Typer(no_args_is_help=True, help="Read models: status, positions, reconciliation.")

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="postgresql://… or sqlite:///PATH (default: a SQLite file in the data dir).",
        envvar="MTQ_PROJECTIONS_DB",
    ),
]
LogLevel = Annotated[str, typer.Option("--log-level", help="Logging level.")]


@app.command("run")
def run_command(  # noqa: PLR0917 - typer options
    config: ConfigPaths,
    nats_url: NatsUrlOption = None,
    data: DataOption = Path("data"),
    db: DbOption = None,
    log_level: LogLevel = "INFO",
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, help="Most events per commit.")
    ] = 2000,
) -> None:
    """Follow MT5 and RISK, keep every view, mirror status to KV, serve `mtq-query`."""
    runtime.configure_logging(
        log_level, "%(asctime)s %(levelname)s projector %(name)s: %(message)s"
    )
    loaded = load_or_exit(config)
    url = runtime.nats_url(nats_url, data)
    db_url = database_url(db, data)

    async def main() -> None:
        try:
            process = await build_projector(
                loaded,
                url,
                db_url=db_url,
                topology=topology_settings(loaded),
                batch_size=batch_size,
            )
        except TopologyConflict as exc:
            runtime.fail(str(exc), runtime.EXIT_PROBLEMS)
        stop = asyncio.Event()
        runtime.install_stop_signals(stop)
        mt5, risk = process.projector.positions
        runtime.console.print(
            f"projector on {url} into {_shown(db_url)}, from MT5 #{mt5} and RISK #{risk}",
            highlight=False,
        )
        await runtime.run_then_ready(process.run(stop), process.projector.ready)
        stats = process.projector.stats
        runtime.console.print(
            f"projector stopped: {stats.facts} facts, {stats.decisions} "
            f"decisions, {stats.batches} commits",
            highlight=False,
        )

    runtime.run(main)


@app.command("rebuild")
def rebuild_command(
    config: ConfigPaths,
    nats_url: NatsUrlOption = None,
    data: DataOption = Path("data"),
    db: DbOption = None,
    log_level: LogLevel = "WARNING",
) -> None:
    """Drop every view and build it again from the logs (stop `mtq projector run` first)."""
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s projector %(name)s: %(message)s"
    )
    loaded = load_or_exit(config)
    url = runtime.nats_url(nats_url, data)
    db_url = database_url(db, data)

    async def main() -> None:
        process = await build_projector(
            loaded,
            url,
            db_url=db_url,
            rebuild=True,
            serve=False,
            mirror=False,
            topology=topology_settings(loaded),
        )
        ends = await log_ends(process.nc.jetstream())
        total = ends[0] + ends[1]
        started = time.monotonic()
        stop = asyncio.Event()
        with Progress(
            TextColumn("rebuild"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=runtime.err_console,
            transient=True,
        ) as progress:
            task = progress.add_task("rebuild", total=total or 1)

            async def show() -> None:
                while not stop.is_set():
                    mt5, risk = process.projector.positions
                    progress.update(task, completed=mt5 + risk)
                    await asyncio.sleep(0.2)

            shower = asyncio.create_task(show())
            try:
                await process.run(stop, until=ends)
            finally:
                stop.set()
                await shower
        stats = process.projector.stats
        seconds = time.monotonic() - started
        events = stats.facts + stats.decisions
        runtime.console.print(
            f"rebuilt {_shown(db_url)}: {stats.facts} facts and {stats.decisions} decisions in "
            f"{seconds:.1f}s ({events / max(seconds, 1e-9):,.0f} events/s)",
            highlight=False,
        )

    runtime.run(main)


def _shown(db_url: str) -> str:
    """The URL without a password."""
    if "@" in db_url and "://" in db_url:
        scheme, rest = db_url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}" if ":" in creds else db_url
    return db_url
