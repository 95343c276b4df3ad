"""`mtq nats serve|provision`: the embedded server and mtq's JetStream topology."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from bus.connection import URL_FILE_NAME, connect, settings_from_env
from bus.datadir import write_atomic
from bus.embedded import EmbeddedNatsServer, EmbeddedServerError
from bus.keeper import GaveUp, ServerKeeper
from bus.topology import TopologyConflict, ensure_topology
from mtq import runtime
from mtq.options import DataOption, NatsPortOption, NatsUrlOption
from mtq.runtime import console, fail
from mtq.system import stamped

app = typer.Typer(no_args_is_help=True, help="The NATS server and mtq's streams.")


async def provision(url: str) -> None:
    """Create or update the streams, the KV bucket and the DLQ, and report what changed."""
    nc = await connect(settings_from_env(url, name="mtq-provision"))
    try:
        report = await ensure_topology(nc.jetstream())
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


@app.command("serve")
def serve_command(
    data: DataOption = Path("data"),
    port: NatsPortOption = 4222,
    provision_topology: Annotated[
        bool, typer.Option("--provision/--no-provision", help="Create mtq's streams on start.")
    ] = True,
) -> None:
    """Run the embedded nats-server with JetStream until Ctrl-C or SIGTERM.

    The server is restarted if it dies. The data dir is locked while it runs.
    """
    lock = runtime.lock_data_dir(data, "mtq nats serve")
    server = EmbeddedNatsServer(data_dir=data / "nats", port=port, inherit_fds=(lock.fd,))
    url_file = data / URL_FILE_NAME
    try:
        try:
            server.start()
        except EmbeddedServerError as exc:
            fail(str(exc))
        write_atomic(url_file, server.url + "\n")
        console.print(f"nats-server with JetStream listening on {server.url}", highlight=False)
        console.print(
            f"store: {server.store_dir}  monitoring: {server.monitor_url}", highlight=False
        )

        async def main() -> None:
            if provision_topology:
                await provision(server.url)
            stop = asyncio.Event()
            runtime.install_stop_signals(stop)
            keeper = ServerKeeper(server, say=stamped(console.print))
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
        server.stop()
        lock.release()
        console.print("nats-server stopped")
