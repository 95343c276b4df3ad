"""`mtq projector run|rebuild`: the read models, from the MT5 and RISK logs."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Annotated, Final, NoReturn

import msgspec
import typer
from nats.aio.subscription import Subscription
from nats.errors import TimeoutError as NatsTimeout
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bus import subjects
from bus.connection import BadNatsCredentials, NatsUnavailable, connect, settings_from_env
from bus.schemas.query import RebuildProgress, RebuildReply, RebuildRequest
from bus.topology import TopologyConflict
from config import MtqConfig
from mtq import runtime
from mtq.bootstrap import build_projector, database_url, log_ends, topology_settings
from mtq.configs import ConfigPaths, load_or_exit
from mtq.options import DataOption, NatsUrlOption
from projections.views_lock import ViewsLock, ViewsLocked

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
REQUEST_TIMEOUT_S: Final = 30.0
PROGRESS_SILENCE_S: Final = 30.0
"""The projector publishes progress every 0.2 s; this long without any means it is gone."""
_encode = msgspec.json.Encoder().encode


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
        except ViewsLocked as exc:
            runtime.fail(f"{exc}: stop it first, or pass --db for other views")
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


ExplicitDataOption = Annotated[
    Path | None,
    typer.Option(
        "--data",
        help="Data directory (default: data). Given, a running projector on it is asked to "
        "rebuild itself.",
    ),
]


@app.command("rebuild")
def rebuild_command(
    config: ConfigPaths,
    nats_url: NatsUrlOption = None,
    data: ExplicitDataOption = None,
    db: DbOption = None,
    log_level: LogLevel = "WARNING",
) -> None:
    """Drop every view and build it again from the logs.

    While a projector holds the views (`mtq up`, `mtq projector run`) it refuses, unless
    `--data DIR` names the data dir: then that projector is asked to rebuild itself.
    """
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s projector %(name)s: %(message)s"
    )
    loaded = load_or_exit(config)
    data_dir = data or Path("data")
    db_url = database_url(db, data_dir)
    try:
        ViewsLock(db_url).acquire().release()
    except ViewsLocked as exc:
        if data is None:
            runtime.fail(
                f"{exc}: stop it first, or ask it to rebuild itself: "
                "mtq projector rebuild --config CONFIG --data DIR"
            )
        url = runtime.nats_url(nats_url, data_dir)
        runtime.run(lambda: _ask_running(url, data_dir))
        return
    url = runtime.nats_url(nats_url, data_dir)
    runtime.run(lambda: _rebuild_here(loaded, url, db_url, data_dir))


def _progress() -> Progress:
    return Progress(
        TextColumn("rebuild"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=runtime.err_console,
        transient=True,
    )


def _no_server(exc: NatsUnavailable, data: Path) -> NoReturn:
    runtime.fail(
        f"{exc}; nothing serves data dir {data}: start `mtq nats serve --data {data}` "
        "(or `mtq up`), then run this again"
    )


async def _rebuild_here(loaded: MtqConfig, url: str, db_url: str, data: Path) -> None:
    """No projector runs: rebuild in this process."""
    try:
        process = await build_projector(
            loaded,
            url,
            db_url=db_url,
            rebuild=True,
            serve=False,
            mirror=False,
            topology=topology_settings(loaded),
        )
    except ViewsLocked as exc:
        runtime.fail(f"{exc}: stop it first")
    except BadNatsCredentials:
        raise
    except NatsUnavailable as exc:
        _no_server(exc, data)
    ends = await log_ends(process.nc.jetstream())
    total = ends[0] + ends[1]
    started = time.monotonic()
    stop = asyncio.Event()
    with _progress() as progress:
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


async def _ask_running(url: str, data: Path) -> None:
    """A projector holds the views: ask it (as admin) to rebuild itself, show its progress."""
    try:
        nc = await connect(settings_from_env(url, name="mtq-projector-rebuild", data_dir=data))
    except BadNatsCredentials:
        raise
    except NatsUnavailable as exc:
        _no_server(exc, data)
    try:
        sub = await nc.subscribe(subjects.PROJECTOR_REBUILD_PROGRESS)
        await nc.flush()
        started = time.monotonic()
        raw = await runtime.ask_service(
            nc,
            subjects.PROJECTOR_REBUILD,
            _encode(RebuildRequest()),
            responder="projector",
            start_hint=f"is `mtq up --data {data}` (or `mtq projector run`) running?",
            timeout_s=REQUEST_TIMEOUT_S,
        )
        reply = msgspec.json.decode(raw, type=RebuildReply)
        if not reply.accepted:
            runtime.fail(f"the projector refused: {reply.reason}", runtime.EXIT_PROBLEMS)
        last = await _follow(sub, reply.total)
    finally:
        await nc.drain()
    seconds = time.monotonic() - started
    runtime.console.print(
        f"the running projector rebuilt its views: {last.facts} facts and {last.decisions} "
        f"decisions in {seconds:.1f}s",
        highlight=False,
    )


async def _follow(sub: Subscription, total: int) -> RebuildProgress:
    decoder = msgspec.json.Decoder(RebuildProgress)
    with _progress() as progress:
        task = progress.add_task("rebuild", total=total or 1)
        while True:
            try:
                msg = await sub.next_msg(timeout=PROGRESS_SILENCE_S)
            except NatsTimeout:
                runtime.fail(
                    f"the projector said nothing for {PROGRESS_SILENCE_S:g} s: see its log",
                    runtime.EXIT_PROBLEMS,
                )
            shown = decoder.decode(msg.data)
            if shown.error:
                runtime.fail(f"the rebuild failed: {shown.error}", runtime.EXIT_PROBLEMS)
            progress.update(task, completed=shown.done)
            if shown.finished:
                return shown


def _shown(db_url: str) -> str:
    """The URL without a password."""
    if "@" in db_url and "://" in db_url:
        scheme, rest = db_url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}" if ":" in creds else db_url
    return db_url
