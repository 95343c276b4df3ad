"""`mtq nats streams|kv get|services|req`: the `nats` CLI verbs the docs send users to.

They use the same connection as every command (`--nats-url`, else `NATS_URL`, else the
data dir's running `mtq up`, with its admin credentials), so nothing else is needed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from nats.aio.client import Client
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.errors import BucketNotFoundError, KeyNotFoundError
from rich.table import Table

from bus import subjects
from bus.connection import connect, settings_from_env
from mtq import runtime
from mtq.options import DataOption, NatsUrlOption

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
SERVICE_DISCOVERY = subjects.SERVICE_INFO
SERVICE_QUIET_S = 0.5


async def _with_client(url: str, name: str, work: Any) -> Any:
    nc = await connect(settings_from_env(url, name=name))
    try:
        return await work(nc)
    finally:
        await nc.close()


def streams(
    nats_url: NatsUrlOption = None, data: DataOption = Path("data"), as_json: JsonOption = False
) -> None:
    """List the JetStream streams: subjects, messages, bytes, consumers."""
    url = runtime.nats_url(nats_url, data)

    async def work(nc: Client) -> list[dict[str, Any]]:
        found = await nc.jetstream().streams_info()
        return [
            {
                "name": info.config.name,
                "subjects": list(info.config.subjects or []),
                "messages": info.state.messages,
                "bytes": info.state.bytes,
                "consumers": info.state.consumer_count,
            }
            for info in sorted(found, key=lambda i: i.config.name or "")
        ]

    rows: list[dict[str, Any]] = runtime.run(lambda: _with_client(url, "mtq-nats", work))
    if as_json:
        sys.stdout.write(json.dumps({"streams": rows}, indent=2) + "\n")
        return
    table = Table("stream", "subjects", "messages", "bytes", "consumers")
    for row in rows:
        table.add_row(
            row["name"],
            " ".join(row["subjects"]),
            str(row["messages"]),
            str(row["bytes"]),
            str(row["consumers"]),
        )
    runtime.console.print(table)


def kv_get(
    key: Annotated[str, typer.Argument(help="The key, e.g. an account id.")],
    bucket: Annotated[str, typer.Option(help="The KV bucket.")] = subjects.KV_STATUS,
    nats_url: NatsUrlOption = None,
    data: DataOption = Path("data"),
) -> None:
    """Print one value of a KV bucket (the `mtq_status` bucket by default)."""
    url = runtime.nats_url(nats_url, data)

    async def work(nc: Client) -> bytes | str:
        try:
            kv = await nc.jetstream().key_value(bucket)
            entry = await kv.get(key)
        except BucketNotFoundError:
            return f"no KV bucket {bucket!r} (run `mtq nats provision`)"
        except KeyNotFoundError:
            return f"no key {key!r} in KV bucket {bucket!r}"
        return entry.value or b""

    found = runtime.run(lambda: _with_client(url, "mtq-nats", work))
    if isinstance(found, str):
        runtime.fail(found, runtime.EXIT_PROBLEMS)
    sys.stdout.write(_pretty(found) + "\n")


def services(
    nats_url: NatsUrlOption = None, data: DataOption = Path("data"), as_json: JsonOption = False
) -> None:
    """List the running NATS micro services (mtq-risk, mtq-query, mtq-agents) and endpoints."""
    url = runtime.nats_url(nats_url, data)

    async def work(nc: Client) -> list[dict[str, Any]]:
        replies: list[dict[str, Any]] = []
        inbox = nc.new_inbox()
        sub = await nc.subscribe(inbox)
        await nc.publish(SERVICE_DISCOVERY, b"", reply=inbox)
        while True:
            try:
                msg = await sub.next_msg(timeout=SERVICE_QUIET_S)
            except (NatsTimeoutError, TimeoutError):
                break
            replies.append(json.loads(msg.data))
        await sub.unsubscribe()
        return sorted(replies, key=lambda r: (r.get("name", ""), r.get("id", "")))

    found: list[dict[str, Any]] = runtime.run(lambda: _with_client(url, "mtq-nats", work))
    if as_json:
        sys.stdout.write(json.dumps({"services": found}, indent=2) + "\n")
        return
    if not found:
        runtime.fail("no NATS service answered (is `mtq up` running?)", runtime.EXIT_PROBLEMS)
    table = Table("service", "version", "id", "endpoints")
    for info in found:
        endpoints = " ".join(e.get("subject", "") for e in info.get("endpoints") or [])
        table.add_row(info.get("name", ""), info.get("version", ""), info.get("id", ""), endpoints)
    runtime.console.print(table)


def req(
    subject: Annotated[str, typer.Argument(help="The subject, e.g. mtq.query.status.")],
    body: Annotated[str, typer.Argument(help="The request body (JSON, or '' for none).")] = "",
    timeout: Annotated[float, typer.Option(min=0.1, help="Seconds to wait.")] = 5.0,
    nats_url: NatsUrlOption = None,
    data: DataOption = Path("data"),
) -> None:
    """Send one request and print the reply (exit 1 on a service error or no answer)."""
    if body:
        try:
            json.loads(body)
        except ValueError as exc:
            runtime.fail(f"the body is not JSON: {exc}")
    url = runtime.nats_url(nats_url, data)

    async def work(nc: Client) -> tuple[bytes, str | None]:
        try:
            reply = await nc.request(subject, body.encode(), timeout=timeout)
        except NoRespondersError:
            return b"", f"nobody answers on {subject}"
        except (NatsTimeoutError, TimeoutError):
            return b"", f"no answer on {subject} within {timeout:g}s"
        headers = reply.headers or {}
        if "Nats-Service-Error-Code" in headers:
            code = headers["Nats-Service-Error-Code"]
            return reply.data, f"{subject}: error {code}: {headers.get('Nats-Service-Error', '')}"
        return reply.data, None

    data_out, problem = runtime.run(lambda: _with_client(url, "mtq-nats", work))
    if problem is not None:
        runtime.fail(problem, runtime.EXIT_PROBLEMS)
    sys.stdout.write(_pretty(data_out) + "\n")


def _pretty(raw: bytes) -> str:
    try:
        return json.dumps(json.loads(raw), indent=2)
    except ValueError:
        return raw.decode(errors="replace")


def register(app: typer.Typer) -> None:
    """Add the verbs to `mtq nats`."""
    app.command("streams")(streams)
    app.command("services")(services)
    app.command("req")(req)
    kv_app = typer.Typer(no_args_is_help=True, help="Read a KV bucket.")
    kv_app.command("get")(kv_get)
    app.add_typer(kv_app, name="kv")
