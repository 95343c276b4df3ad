"""`mtq up`: the whole system in one process tree on an embedded nats-server."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
from pathlib import Path
from typing import Annotated

import typer

from agents.supervisor.services import ServiceRunner, ServiceSpec
from bus import subjects
from bus.connection import URL_FILE_NAME
from bus.datadir import DataDirLock, write_atomic
from bus.embedded import EmbeddedNatsServer, EmbeddedServerError
from bus.security.client import TlsFiles
from bus.security.identities import ADMIN
from bus.topology import TopologyConflict, TopologyReport
from config import ConfigError, ConfigFileError, MtqConfig, load_config
from config.calendar import config_calendar
from mtq import runtime
from mtq.bootstrap import ServiceWiring, check_api_secrets, provision, service_specs
from mtq.http.auth import TokenFormatError
from mtq.http.server import ApiBindError
from mtq.http.server import bind as bind_socket
from mtq.options import ConfigOption, DataOption, NatsPortOption
from mtq.reload import ConfigReload, ReloadRefused, stage_config
from mtq.runtime import console, fail
from mtq.serving import (
    DEFAULT_HTTP,
    HttpOption,
    InsecureOption,
    TlsCaOption,
    TlsCertOption,
    TlsKeyOption,
    admin_command_flags,
    parse_http,
    record_client_tls,
    secure_identities,
    serve_port,
    server_tls,
    server_trust,
    warn_insecure,
)
from mtq.system import (
    Identities,
    Part,
    PartFailed,
    Say,
    ServerPart,
    ServicePart,
    SupervisorPart,
    run_parts,
    show_lifecycle,
    stamped,
)

DEFAULT_CONFIG = Path("config/examples/demo.yaml")
MTQ = ".venv/bin/mtq"  # as `make run` installs it; `mtq` alone is not on PATH


def _load(config_path: Path) -> MtqConfig:
    try:
        return load_config([config_path])
    except ConfigFileError as exc:
        fail(str(exc))
    except ConfigError as exc:
        lines = exc.result.lines() if exc.result else [str(exc)]
        for line in lines:
            runtime.err_console.print(line, highlight=False, markup=False)
        fail(f"{config_path} is not valid; run `mtq config validate {config_path}`")


def _banner(
    url: str,
    config: MtqConfig,
    data: Path,
    server: EmbeddedNatsServer | None,
    identities: Identities,
    *,
    api: str,
) -> None:
    ids = [a.id for a in config.enabled_accounts()]
    first = ids[0] if ids else "ACCOUNT"
    where = f" (embedded, pid {server.pid}, store {server.store_dir})" if server else ""
    say = console.print
    say(f"[bold green]mtq is up[/]  NATS: [bold]{url}[/]{where}", highlight=False)
    say(
        f"HTTP API and dashboard: [bold]{api}/[/]  (docs {api}/docs)",
        highlight=False,
    )
    say(f"data dir: {data}   accounts: {', '.join(ids) or '(none enabled)'}", highlight=False)
    say(
        "running: "
        + ("nats-server (restarted if it dies), " if server else "")
        + "risk engine (mtq-risk), projector (mtq-query, KV mtq_status, "
        + f"{data / 'projections.sqlite'}), supervisor with {len(ids)} agent process(es), "
        f"HTTP API (alerts printed here as ALERT lines)",
        highlight=False,
    )
    say(
        "try (the `nats` CLI: https://github.com/nats-io/natscli/releases; "
        f"`{MTQ} tail` works without it):",
        highlight=False,
    )
    if identities.auth_dir is not None:
        say(
            f"security: on: each part has its own NATS identity ({identities.auth_dir.path}); "
            "the `nats` commands below use the admin credentials",
            highlight=False,
        )
    else:
        say("[bold red]security: OFF (--insecure): anyone who can reach NATS controls it[/]")
    flags = admin_command_flags(identities, data)
    data_flag = "" if data == Path("data") else f" --data {data}"
    facts = subjects.account_facts(first)
    for cmd in (
        f"{MTQ} status{data_flag}",
        f"{MTQ} risk show {first}{data_flag}",
        f"{MTQ} tail '{facts}'{data_flag}",
        f"nats --server {url}{flags} sub '{facts}'",
        f"nats --server {url}{flags} stream ls",
        f"nats --server {url}{flags} req {subjects.agents_endpoint('list')} ''",
        f"nats --server {url}{flags} kv get {subjects.KV_STATUS} {first}",
        f"nats --server {url}{flags} req {subjects.query('reconciliation')} "
        f'\'{{"account": "{first}"}}\'',
        f"nats --server {url}{flags} micro ls",
    ):
        say(f"  {cmd}", highlight=False, markup=False)
    say("Ctrl-C stops everything.")


def _report(report: TopologyReport) -> None:
    parts = [
        f"{label} {', '.join(names)}"
        for label, names in (("created", report.created), ("updated", report.updated))
        if names
    ]
    console.print("topology: " + ("; ".join(parts) if parts else "up to date"), highlight=False)


async def _serve(
    config: MtqConfig,
    config_path: Path,
    url: str,
    data: Path,
    server: EmbeddedNatsServer | None,
    *,
    identities: Identities,
    http: str,
) -> None:
    # Signals first: a Ctrl-C from now on stops mtq in order, however early it comes.
    stop = asyncio.Event()
    runtime.install_stop_signals(stop)
    reloads: list[ConfigReload] = []  # SIGHUP before the parts exist does nothing

    def on_hangup() -> None:
        for reload in reloads:
            reload.requested()

    with contextlib.suppress(NotImplementedError, RuntimeError, AttributeError):
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, on_hangup)
    admin = identities.auth(ADMIN)
    try:
        report = await runtime.unless_stopped(provision(config, url, admin), stop)
    except TopologyConflict as exc:
        fail(str(exc), runtime.EXIT_PROBLEMS)
    if report is None:
        return
    _report(report)
    say = stamped(lambda text: console.print(text, highlight=False, markup=False))
    show_lifecycle(say)

    async def reprovision() -> None:  # a restart loses the memory-storage MT5_TICKS stream
        await provision(config, url, admin)

    api_socket = _api_socket(http)
    try:
        in_force = stage_config(config_path, config, data)
    except ReloadRefused as exc:
        fail(str(exc))
    wiring = ServiceWiring(config, [in_force], url, data, identities)
    engine, projector, api = (
        ServiceRunner(spec, on_line=_child_line(say, spec.name))
        for spec in service_specs(wiring, api_socket)
    )
    # Started in this order, stopped in reverse: the API first (no more requests), then
    # the agents (no more facts), the projector, and the engine last, so every fact the
    # agents sent before they stopped is decided; nats-server goes after them all.
    parts: list[Part] = []
    if server is not None:
        parts.append(ServerPart(server, say, on_restart=reprovision))
    parts.append(ServicePart(engine))
    parts.append(ServicePart(projector))
    parts.append(
        SupervisorPart(
            config,
            [in_force],
            url,
            data,
            identities=identities,
            services=(engine, projector, api),
        )
    )
    parts.append(ServicePart(api))
    supervisor_part = parts[-2]
    assert isinstance(supervisor_part, SupervisorPart)

    def api_spec(new: MtqConfig) -> ServiceSpec:
        fresh = ServiceWiring(new, [in_force], url, data, identities)
        return service_specs(fresh, api_socket)[-1]

    reloads.append(
        ConfigReload(config_path, data, url, identities, supervisor_part, api, api_spec, say)
    )
    _banner(url, config, data, server, identities, api=_address(api_socket))
    try:
        await run_parts(parts, stop, say)
    except PartFailed as exc:
        fail(f"{exc}; stopping mtq", runtime.EXIT_PROBLEMS)
    finally:
        api_socket.close()


def _child_line(say: Say, name: str) -> Say:
    """A service child's output line on the console: ALERT lines as they are, others named."""

    def line(text: str) -> None:
        say(text if text.startswith("ALERT ") else f"{name}: {text}")

    return line


def _api_socket(http: str) -> socket.socket:
    """The API's socket, bound to `--http`; the default port, if taken, gives way to a free one."""
    host, port = parse_http(http)
    try:
        return bind_socket(host, port)
    except ApiBindError as exc:
        if http != DEFAULT_HTTP:
            fail(f"{exc} (pass --http HOST:PORT to use another)")
        console.print(f"{exc}; the HTTP API takes a free port", highlight=False)
        return bind_socket(host, 0)


def _address(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _start_server(
    data: Path, given: int | None, lock: DataDirLock, identities: Identities, tls: TlsFiles | None
) -> EmbeddedNatsServer:
    port = serve_port(given, f" (another program, not an mtq on {data})")
    # The server inherits the lock: the dir stays locked until the server is gone too.
    server = EmbeddedNatsServer(
        data_dir=data / "nats",
        port=port,
        inherit_fds=(lock.fd,),
        auth_conf=identities.auth_dir.server_conf if identities.auth_dir else None,
        tls=tls,
    )
    try:
        server.start()
    except EmbeddedServerError as exc:
        fail(str(exc))
    return server


def up(  # every option is keyword-only: typer passes them by name
    *,
    config: ConfigOption = DEFAULT_CONFIG,
    data: DataOption = Path("data"),
    nats_url: Annotated[
        str | None,
        typer.Option("--nats-url", help="Use this NATS server instead of starting one."),
    ] = None,
    nats_port: NatsPortOption = None,
    insecure: InsecureOption = False,
    tls_cert: TlsCertOption = None,
    tls_key: TlsKeyOption = None,
    tls_ca: TlsCaOption = None,
    http: HttpOption = DEFAULT_HTTP,
) -> None:
    """Start the whole system: NATS (embedded unless --nats-url), topology, supervisor, agents.

    Secured by default: every part connects with its own identity (generated in DATA/auth
    on first start); --insecure runs NATS open. The data dir is locked while mtq runs: a
    second `mtq up` on it exits 2 at once.
    """
    parse_http(http)  # a bad --http exits 2 before anything starts
    if nats_url is not None:
        nats_url = runtime.nats_url(nats_url, data)
    tls = server_tls(tls_cert, tls_key, tls_ca) if nats_url is None else server_trust(tls_ca)
    loaded = _load(config)
    try:
        check_api_secrets(loaded)  # bad tokens or notify URLs exit 2 before anything starts
        config_calendar(loaded)  # so does a news calendar the engine could not read
    except (TokenFormatError, ConfigError) as exc:
        fail(str(exc))
    lock = runtime.lock_data_dir(data, "mtq up")
    server: EmbeddedNatsServer | None = None
    url_file = data / URL_FILE_NAME
    tls_file: Path | None = None
    try:
        identities = secure_identities(
            data,
            [a.id for a in loaded.accounts],
            insecure=insecure,
            tls=tls,
            embedded=nats_url is None,
            strategies=[s.name for s in loaded.strategies],
        )
        if nats_url is None:
            server = _start_server(data, nats_port, lock, identities, tls)
            nats_url = server.url
        write_atomic(url_file, nats_url + "\n")
        tls_file = record_client_tls(data, tls)
        if insecure:
            warn_insecure(nats_url)
        url = nats_url
        runtime.run(
            lambda: _serve(loaded, config, url, data, server, identities=identities, http=http)
        )
    finally:
        with contextlib.suppress(OSError):
            url_file.unlink()  # ours: we hold the lock
        if tls_file is not None:
            with contextlib.suppress(OSError):
                tls_file.unlink()
        if server is not None:
            server.stop()
        lock.release()
        console.print("mtq stopped")


def register(app: typer.Typer) -> None:
    app.command("up")(up)
