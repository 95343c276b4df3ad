"""`mtq api run`: the HTTP API and dashboard on their own, over the projector's database."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer

from agents.supervisor.liveness import signal_ready
from config.errors import ConfigError
from mtq import runtime
from mtq.bootstrap import api_auth, api_settings, build_api
from mtq.configs import ConfigPaths, load_or_exit
from mtq.http.auth import TokenFormatError
from mtq.http.server import ApiBindError
from mtq.options import DataOption, NatsUrlOption
from mtq.serving import DEFAULT_HTTP, HttpOption, parse_http

app = typer.Typer(no_args_is_help=True, help="The HTTP API, live dashboard and alerts.")

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="The projector's database: postgresql://… or sqlite:///PATH "
        "(default: the SQLite file in the data dir).",
        envvar="MTQ_PROJECTIONS_DB",
    ),
]


@app.command("run")
def run_command(  # noqa: PLR0917 - typer options
    config: ConfigPaths,
    nats_url: NatsUrlOption = None,
    data: DataOption = Path("data"),
    http: HttpOption = DEFAULT_HTTP,
    db: DbOption = None,
    log_level: Annotated[str, typer.Option("--log-level", help="Logging level.")] = "INFO",
    access_log: Annotated[
        bool, typer.Option("--access-log/--no-access-log", help="Log every request.")
    ] = True,
    listen_fd: Annotated[
        int | None,
        typer.Option(
            "--listen-fd", hidden=True, help="Serve on this inherited, bound socket (mtq up)."
        ),
    ] = None,
) -> None:
    """Serve the HTTP API and dashboard until Ctrl-C (the projector must be running)."""
    runtime.configure_logging(log_level, "%(asctime)s %(levelname)s %(name)s: %(message)s")
    loaded = load_or_exit(config)
    url = runtime.nats_url(nats_url, data)
    say = runtime.console.print
    host, port = parse_http(http)
    try:
        settings = api_settings(loaded, url, data, (host, port), db, api_auth(data))
    except (TokenFormatError, ConfigError) as exc:
        runtime.fail(str(exc))
    settings = replace(settings, say=lambda text: say(text, highlight=False))
    sock = socket.socket(fileno=listen_fd) if listen_fd is not None else None

    async def main() -> None:
        server = build_api(settings, access_log=access_log, sock=sock)
        try:
            await server.start()
        except ApiBindError as exc:
            runtime.fail(str(exc))
        runtime.console.print(f"HTTP API on {server.address} (NATS {url})", highlight=False)
        signal_ready()
        stop = asyncio.Event()
        runtime.install_stop_signals(stop)
        waiter: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
        await asyncio.wait([waiter, server.done], return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        await server.stop()

    runtime.run(main)
