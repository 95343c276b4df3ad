"""`mtq api run`: the HTTP API and dashboard on their own, over the projector's database."""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer

from bus.security.authdir import default_auth_dir
from bus.security.client import ClientAuth
from bus.security.identities import HTTP_API
from config import MtqConfig
from config.errors import ConfigError
from mtq import runtime
from mtq.configs import ConfigPaths, load_or_exit
from mtq.http.alerts import DB_FILE_NAME as ALERTS_FILE
from mtq.http.auth import ENV_TOKENS, TokenFormatError, tokens_from_env
from mtq.http.notify import build_targets
from mtq.http.server import ApiBindError, ApiServer
from mtq.http.state import ApiSettings
from mtq.options import DataOption, NatsUrlOption
from projections.bootstrap import database_url

app = typer.Typer(no_args_is_help=True, help="The HTTP API, live dashboard and alerts.")

DEFAULT_HTTP = "127.0.0.1:8000"
HttpOption = Annotated[
    str,
    typer.Option("--http", help="HOST:PORT to listen on (reads need a token off loopback)."),
]
DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="The projector's database: postgresql://… or sqlite:///PATH "
        "(default: the SQLite file in the data dir).",
        envvar="MTQ_PROJECTIONS_DB",
    ),
]


def parse_http(text: str) -> tuple[str, int]:
    """`HOST:PORT` (`[::1]:8000` for IPv6); exits 2 with one line when it is not one."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        runtime.fail(f"--http must be HOST:PORT (like {DEFAULT_HTTP}), got {text!r}")
    return host, int(port)


def api_auth(data: Path) -> ClientAuth | None:
    """The `api` identity that `mtq up` generated in the data dir, if there is one."""
    creds = default_auth_dir(data).creds(HTTP_API)
    return ClientAuth(creds_file=str(creds)) if creds.is_file() else None


def api_settings(  # noqa: PLR0917 - the parts of one settings object
    config: MtqConfig,
    nats_url: str | None,
    data: Path,
    http: str,
    db: str | None,
    auth: ClientAuth | None,
) -> ApiSettings:
    """The API's settings for a config, data dir and `--http`; exits 2 on bad tokens."""
    host, port = parse_http(http)
    try:
        tokens_from_env(os.environ.get(ENV_TOKENS))
    except TokenFormatError as exc:
        runtime.fail(str(exc))
    try:
        build_targets(config.alerts.notify, os.environ)
    except ConfigError as exc:
        runtime.fail(f"{', '.join(config.source) or 'config'}: {exc}")
    return ApiSettings.from_config(
        config,
        database_url(db, data),
        nats_url=nats_url,
        nats_auth=auth,
        host=host,
        port=port,
        alerts_db=data / ALERTS_FILE,
    )


@app.command("run")
def run_command(
    config: ConfigPaths,
    nats_url: NatsUrlOption = None,
    data: DataOption = Path("data"),
    http: HttpOption = DEFAULT_HTTP,
    db: DbOption = None,
) -> None:
    """Serve the HTTP API and dashboard until Ctrl-C (the projector must be running)."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    loaded = load_or_exit(config)
    url = runtime.nats_url(nats_url, data)
    say = runtime.console.print
    settings = api_settings(loaded, url, data, http, db, api_auth(data))
    settings = replace(settings, say=lambda text: say(text, highlight=False))

    async def main() -> None:
        server = ApiServer(settings, access_log=True)
        try:
            await server.start()
        except ApiBindError as exc:
            runtime.fail(str(exc))
        runtime.console.print(f"HTTP API on {server.address} (NATS {url})", highlight=False)
        stop = asyncio.Event()
        runtime.install_stop_signals(stop)
        waiter: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
        await asyncio.wait([waiter, server.done], return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        await server.stop()

    runtime.run(main)
