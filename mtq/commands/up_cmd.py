"""`mtq up`: the whole system in one process tree on an embedded nats-server."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
from pathlib import Path
from typing import Annotated

import typer

from agents.supervisor import run_supervisor
from bus.connection import URL_FILE_NAME, connect, settings_from_env
from bus.embedded import EmbeddedNatsServer, EmbeddedServerError
from bus.topology import TopologyConflict, TopologyReport, ensure_topology
from config import ConfigError, ConfigFileError, MtqConfig, load_config
from mtq import runtime
from mtq.options import ConfigOption, DataOption, NatsPortOption
from mtq.runtime import console, fail
from mtq.wiring import topology_settings

DEFAULT_CONFIG = Path("config/examples/demo.yaml")
DEFAULT_NATS_PORT = 4222


def _port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            raise
    return True


def _load(config_path: Path) -> MtqConfig:
    try:
        return load_config([config_path])
    except ConfigFileError as exc:
        fail(str(exc))
    except ConfigError as exc:
        lines = exc.result.lines() if exc.result else [str(exc)]
        for line in lines:
            runtime.err_console.print(line, highlight=False)
        fail(f"{config_path} is not valid; run `mtq config validate {config_path}`")


def _parse_http(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise typer.BadParameter(f"{value!r} is not HOST:PORT", param_hint="--http")
    return host or "127.0.0.1", int(port)


def _banner(url: str, config: MtqConfig, data: Path, embedded: bool) -> None:
    ids = [a.id for a in config.enabled_accounts()]
    first = ids[0] if ids else "ACCOUNT"
    console.print(
        f"[bold green]mtq is up[/]  NATS: [bold]{url}[/]" + (" (embedded)" if embedded else "")
    )
    console.print(f"data dir: {data}   accounts: {', '.join(ids) or '(none enabled)'}")
    console.print("HTTP API: not served by this build yet (it arrives with the projections work)")
    console.print("try:")
    for cmd in (
        f"nats --server {url} sub 'mt5.{first}.>'",
        f"nats --server {url} sub 'mt5.*.tick.*'",
        f"nats --server {url} stream ls",
        f"nats --server {url} req mtq.agents.list ''",
        f"nats --server {url} micro ls",
        f"mtq status --nats-url {url}",
    ):
        console.print(f"  {cmd}", highlight=False)
    console.print("Ctrl-C stops everything.")


def _report(report: TopologyReport) -> None:
    parts = [
        f"{label} {', '.join(names)}"
        for label, names in (("created", report.created), ("updated", report.updated))
        if names
    ]
    console.print("topology: " + ("; ".join(parts) if parts else "up to date"))


async def _serve(
    config: MtqConfig, config_path: Path, url: str, data: Path, *, embedded: bool
) -> None:
    nc = await connect(settings_from_env(url, name="mtq-up"))
    try:
        _report(await ensure_topology(nc.jetstream(), topology_settings(config)))
    except TopologyConflict as exc:
        fail(str(exc), runtime.EXIT_PROBLEMS)
    finally:
        await nc.close()
    _banner(url, config, data, embedded)
    stop = asyncio.Event()
    runtime.install_stop_signals(stop)
    await run_supervisor(config, config_paths=[config_path], nats_url=url, data_dir=data, stop=stop)


def up(
    config: ConfigOption = DEFAULT_CONFIG,
    data: DataOption = Path("data"),
    nats_url: Annotated[
        str | None,
        typer.Option("--nats-url", help="Use this NATS server instead of starting one."),
    ] = None,
    nats_port: NatsPortOption = DEFAULT_NATS_PORT,
    http: Annotated[str, typer.Option("--http", help="HOST:PORT for the HTTP API.")] = (
        "127.0.0.1:8080"
    ),
) -> None:
    """Start the whole system: NATS (embedded unless --nats-url), topology, agents."""
    _parse_http(http)
    loaded = _load(config)
    data.mkdir(parents=True, exist_ok=True)
    server: EmbeddedNatsServer | None = None
    url_file = data / URL_FILE_NAME
    if nats_url is None:
        port = nats_port
        if port and not _port_free(port):
            console.print(f"port {port} is taken; the embedded nats-server takes a free port")
            port = 0
        server = EmbeddedNatsServer(data_dir=data / "nats", port=port)
        try:
            server.start()
        except EmbeddedServerError as exc:
            fail(str(exc))
        nats_url = server.url
    try:
        url_file.write_text(nats_url + "\n", encoding="utf-8")
        url = nats_url
        runtime.run(lambda: _serve(loaded, config, url, data, embedded=server is not None))
    finally:
        with contextlib.suppress(OSError):
            url_file.unlink()
        if server is not None:
            server.stop()
        console.print("mtq stopped")


def register(app: typer.Typer) -> None:
    app.command("up")(up)
