"""`mtq nats serve|provision|auth generate`: the embedded server, its identities, the topology.

Also the security options and steps `mtq up` shares with `mtq nats serve`.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated

import typer

from bus.connection import URL_FILE_NAME, connect, settings_from_env, write_client_tls
from bus.datadir import write_atomic
from bus.embedded import DEFAULT_PORT, EmbeddedNatsServer, EmbeddedServerError, port_taken
from bus.keeper import GaveUp, ServerKeeper
from bus.security.authdir import AuthDir, AuthDirError, default_auth_dir
from bus.security.client import BadTlsFiles, ClientAuth, TlsFiles
from bus.security.identities import ADMIN
from bus.topology import TopologyConflict, TopologySettings, ensure_topology
from config import ConfigError, ConfigFileError, load_config
from mtq import runtime
from mtq.options import ConfigOption, DataOption, NatsPortOption, NatsUrlOption
from mtq.runtime import console, fail
from mtq.system import Identities, stamped

app = typer.Typer(no_args_is_help=True, help="The NATS server and mtq's streams.")
auth_app = typer.Typer(no_args_is_help=True, help="mtq's NATS identities and credentials.")
app.add_typer(auth_app, name="auth")

InsecureOption = Annotated[
    bool,
    typer.Option(
        "--insecure",
        help="Run NATS open to anyone who can reach it (no identities, no permissions): "
        "quick experiments only.",
    ),
]
TlsCertOption = Annotated[
    Path | None, typer.Option("--tls-cert", help="TLS certificate of the NATS server (PEM).")
]
TlsKeyOption = Annotated[
    Path | None, typer.Option("--tls-key", help="Private key of --tls-cert (PEM).")
]
TlsCaOption = Annotated[
    Path | None,
    typer.Option("--tls-ca", help="CA that signed --tls-cert: what every client trusts (PEM)."),
]


def server_tls(cert: Path | None, key: Path | None, ca: Path | None) -> TlsFiles | None:
    """The server's TLS files from the options (None: no TLS); bad files exit 2."""
    if cert is None and key is None and ca is None:
        return None
    tls = TlsFiles(
        ca=str(ca.resolve()) if ca else None,
        cert=str(cert.resolve()) if cert else None,
        key=str(key.resolve()) if key else None,
    )
    try:
        tls.check_server()
        if tls.ca:
            TlsFiles(ca=tls.ca).client_context()
    except BadTlsFiles as exc:
        fail(str(exc))
    return tls


def warn_insecure(url: str) -> None:
    """Say loudly, on stderr, what --insecure means."""
    line = (
        f"WARNING: --insecure: NATS at {url} accepts ANYONE who can reach it, without "
        "credentials or permissions: any process can publish fake facts, send close-all "
        "commands or delete streams. Use it for quick experiments only."
    )
    prefix, end = ("\x1b[1;31m", "\x1b[0m") if sys.stderr.isatty() else ("", "")
    sys.stderr.write(f"{prefix}{line}{end}\n")
    sys.stderr.flush()


def generate_identities(directory: AuthDir, account_ids: Iterable[str]) -> AuthDir:
    """Generate (or bring up to date) the identities in `directory`; errors exit 2."""
    try:
        directory.generate(account_ids)
    except AuthDirError as exc:
        fail(str(exc))
    changed = [
        f"{label} {', '.join(names)}"
        for label, names in (("created", directory.created), ("updated", directory.updated))
        if names
    ]
    if changed:
        console.print(f"identities: {'; '.join(changed)} (in {directory.path})", highlight=False)
    return directory


def secure_identities(
    data: Path, account_ids: Iterable[str], *, insecure: bool, tls: TlsFiles | None, embedded: bool
) -> Identities:
    """The identities of a server mtq starts (generated in `data/auth`) or connects to.

    Against a server mtq does not start, the identities in `data/auth` are used if they
    exist (`mtq nats auth generate --out data/auth`, trusted by that server); else every
    part connects as the environment says (`NATS_CREDS`).
    """
    if insecure:
        return Identities(auth_dir=None, tls=tls)
    directory = default_auth_dir(data)
    if not embedded and not directory.exists():
        return Identities(auth_dir=None, tls=tls)
    return Identities(auth_dir=generate_identities(directory, account_ids), tls=tls)


def record_client_tls(data: Path, tls: TlsFiles | None) -> Path | None:
    """Tell other `mtq` commands of this data dir which CA to trust."""
    return write_client_tls(data, tls) if tls is not None and tls.ca else None


def admin_command_flags(identities: Identities, data: Path) -> str:
    """The `nats` CLI flags that connect as admin (empty in open mode)."""
    flags = ""
    if identities.auth_dir is not None:
        flags += f" --creds {identities.auth_dir.admin_creds}"
    if identities.tls is not None and identities.tls.ca:
        flags += f" --tlsca {identities.tls.ca}"
    return flags


async def provision(
    url: str, settings: TopologySettings | None = None, auth: ClientAuth | None = None
) -> None:
    """Create or update the streams, the KV bucket and the DLQ, and report what changed."""
    nc = await connect(settings_from_env(url, name="mtq-provision", auth=auth))
    try:
        report = await ensure_topology(nc.jetstream(), settings)
    except TopologyConflict as exc:
        fail(str(exc), runtime.EXIT_PROBLEMS)
    finally:
        await nc.close()
    for label, names in (
        ("created", report.created),
        ("updated", report.updated),
        ("unchanged", report.unchanged),
    ):
        if names:
            console.print(f"{label}: {', '.join(names)}")


@app.command("provision")
def provision_command(nats_url: NatsUrlOption = None, data: DataOption = Path("data")) -> None:
    """Create or update mtq's streams, KV bucket and DLQ (idempotent)."""
    url = runtime.nats_url(nats_url, data)
    runtime.run(lambda: provision(url))


def _account_ids(config: Path | None) -> list[str]:
    if config is None:
        return []
    try:
        return [a.id for a in load_config([config]).accounts]
    except ConfigFileError as exc:
        fail(str(exc))
    except ConfigError as exc:
        fail(f"{config} is not valid: {exc}; run `mtq config validate {config}`")


@auth_app.command("generate")
def auth_generate_command(
    config: ConfigOption = Path("config/examples/demo.yaml"),
    out: Annotated[
        Path, typer.Option("--out", help="Directory for the keys, server config and creds.")
    ] = Path("data/auth"),
) -> None:
    """Generate mtq's identities for CONFIG's accounts: server trust config + one creds each.

    Existing keys and seeds are kept (credentials handed out stay valid); permissions are
    brought up to date and new accounts get their agent identity. Files are mode 0600.
    """
    directory = generate_identities(AuthDir(out), _account_ids(config))
    console.print(
        f"server config: {directory.server_conf} (include it in your nats-server config)",
        highlight=False,
    )
    console.print(f"credentials: {directory.path / 'creds'}/<identity>.creds", highlight=False)
    console.print(
        f"try: nats --server URL --creds {directory.admin_creds} stream ls", highlight=False
    )


def serve_port(given: int | None, why_taken: str = "") -> int:
    """The port to serve on. A given one that is taken is an error (one line, exit 2); the
    default, if taken, gives way to a free one (0) and says so."""
    port = DEFAULT_PORT if given is None else given
    if not port or not port_taken(port):
        return port
    if given is not None:
        fail(f"port {port} is taken: pass another --nats-port, or 0 for any free port")
    console.print(
        f"port {port} is taken{why_taken}; the embedded nats-server takes a free port",
        highlight=False,
    )
    return 0


@app.command("serve")
def serve_command(  # every option is keyword-only: typer passes them by name
    *,
    data: DataOption = Path("data"),
    port: NatsPortOption = None,
    provision_topology: Annotated[
        bool, typer.Option("--provision/--no-provision", help="Create mtq's streams on start.")
    ] = True,
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="Account configuration: agent identities for it."),
    ] = None,
    insecure: InsecureOption = False,
    tls_cert: TlsCertOption = None,
    tls_key: TlsKeyOption = None,
    tls_ca: TlsCaOption = None,
) -> None:
    """Run the embedded nats-server with JetStream until Ctrl-C or SIGTERM.

    Secured by default: identities in DATA/auth (admin creds for the `nats` CLI in
    DATA/auth/creds/admin.creds). The server is restarted if it dies. The data dir is
    locked while it runs.
    """
    tls = server_tls(tls_cert, tls_key, tls_ca)
    account_ids = _account_ids(config)
    port = serve_port(port)
    lock = runtime.lock_data_dir(data, "mtq nats serve")
    identities = secure_identities(data, account_ids, insecure=insecure, tls=tls, embedded=True)
    server = EmbeddedNatsServer(
        data_dir=data / "nats",
        port=port,
        inherit_fds=(lock.fd,),
        auth_conf=identities.auth_dir.server_conf if identities.auth_dir else None,
        tls=tls,
    )
    url_file = data / URL_FILE_NAME
    tls_file: Path | None = None
    admin = identities.auth(ADMIN)
    try:
        try:
            server.start()
        except EmbeddedServerError as exc:
            fail(str(exc))
        write_atomic(url_file, server.url + "\n")
        tls_file = record_client_tls(data, tls)
        console.print(f"nats-server with JetStream listening on {server.url}", highlight=False)
        console.print(
            f"store: {server.store_dir}  monitoring: {server.monitor_url}", highlight=False
        )
        if insecure:
            warn_insecure(server.url)
        else:
            flags = admin_command_flags(identities, data)
            console.print(f"admin: nats --server {server.url}{flags} stream ls", highlight=False)

        async def main() -> None:
            if provision_topology:
                await provision(server.url, auth=admin)
            stop = asyncio.Event()
            runtime.install_stop_signals(stop)

            async def reprovision() -> None:
                if provision_topology:
                    await provision(server.url, auth=admin)

            keeper = ServerKeeper(server, say=stamped(console.print), on_restart=reprovision)
            watch = asyncio.ensure_future(keeper.run())
            await asyncio.wait(
                {watch, asyncio.ensure_future(stop.wait())}, return_when=asyncio.FIRST_COMPLETED
            )
            keeper.stop()
            try:
                await watch
            except GaveUp as exc:
                fail(str(exc), runtime.EXIT_PROBLEMS)

        runtime.run(main)
    finally:
        url_file.unlink(missing_ok=True)
        if tls_file is not None:
            with contextlib.suppress(OSError):
                tls_file.unlink()
        server.stop()
        lock.release()
        console.print("nats-server stopped")
