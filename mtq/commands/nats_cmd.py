"""`mtq nats serve|provision|auth generate`: the embedded server, its identities, the topology.

The security options and steps it shares with `mtq up` are in `mtq.serving`.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Annotated

import typer

from bus.connection import URL_FILE_NAME, connect, settings_from_env
from bus.datadir import write_atomic
from bus.embedded import EmbeddedNatsServer, EmbeddedServerError
from bus.keeper import GaveUp, ServerKeeper
from bus.security.authdir import AuthDir
from bus.security.client import ClientAuth
from bus.security.identities import ADMIN
from bus.topology import TopologyConflict, TopologySettings, ensure_topology
from config import ConfigError, ConfigFileError, load_config
from mtq import runtime
from mtq.options import ConfigOption, DataOption, NatsPortOption, NatsUrlOption
from mtq.runtime import console, fail
from mtq.serving import (
    InsecureOption,
    TlsCaOption,
    TlsCertOption,
    TlsKeyOption,
    admin_command_flags,
    generate_identities,
    record_client_tls,
    secure_identities,
    serve_port,
    server_tls,
    warn_insecure,
)
from mtq.system import stamped

app = typer.Typer(no_args_is_help=True, help="The NATS server and mtq's streams.")
auth_app = typer.Typer(no_args_is_help=True, help="mtq's NATS identities and credentials.")
app.add_typer(auth_app, name="auth")


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


def _strategy_names(config: Path | None) -> list[str]:
    if config is None:
        return []
    try:
        return [s.name for s in load_config([config]).strategies]
    except ConfigFileError as exc:
        fail(str(exc))


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
    directory = generate_identities(AuthDir(out), _account_ids(config), _strategy_names(config))
    console.print(
        f"server config: {directory.server_conf} (include it in your nats-server config)",
        highlight=False,
    )
    console.print(f"credentials: {directory.path / 'creds'}/<identity>.creds", highlight=False)
    console.print(
        f"try: nats --server URL --creds {directory.admin_creds} stream ls", highlight=False
    )


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
    identities = secure_identities(
        data,
        account_ids,
        insecure=insecure,
        tls=tls,
        embedded=True,
        strategies=_strategy_names(config),
    )
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
