"""`mtq tail SUBJECT`: live messages on a subject, decoded and validated, one line each."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import msgspec
import typer
from nats.aio.msg import Msg

from bus import subjects
from bus.codec import DecodeError, decode_command, decode_fact
from bus.connection import connect, settings_from_env
from mtq import runtime
from mtq.options import DataOption, NatsUrlOption

Decoded = tuple[str | None, Any, str | None]  # (type name, payload, error)


def decode(subject: str, data: bytes) -> Decoded:
    """Facts and commands through `bus.codec` (validated); anything else as raw JSON."""
    decoder = (
        decode_fact
        if subjects.is_fact(subject)
        else decode_command
        if subjects.is_command(subject)
        else None
    )
    if decoder is not None:
        try:
            message = decoder(subject, data)
        except DecodeError as exc:
            return None, data.decode("utf-8", errors="replace"), str(exc)
        return type(message).__name__, msgspec.to_builtins(message), None
    try:
        return None, json.loads(data) if data else None, None
    except ValueError:
        return None, data.decode("utf-8", errors="replace"), None


def render(subject: str, data: bytes, *, as_json: bool) -> str:
    """The line `mtq tail` prints for one message."""
    kind, payload, error = decode(subject, data)
    if as_json:
        record: dict[str, Any] = {"subject": subject}
        if kind is not None:
            record["type"] = kind
        if error is not None:
            record["error"] = error
        record["data" if error is not None else "message"] = payload
        return json.dumps(record, separators=(",", ":"), default=str)
    stamp = datetime.now().strftime("%H:%M:%S.%f")[:-3]
    if error is not None:
        return f"{stamp} {subject} INVALID ({error}): {payload}"
    if isinstance(payload, dict):
        fields = {k: v for k, v in payload.items() if k != "type"}
        body = json.dumps(fields, separators=(",", ":"), default=str)
    else:
        body = payload if isinstance(payload, str) else json.dumps(payload)
    return f"{stamp} {subject} {kind or '-'} {body}"


async def _tail(url: str, subject: str, *, as_json: bool, count: int | None) -> None:
    settings = settings_from_env(url, name="mtq-tail")
    nc = await connect(settings)
    stop = asyncio.Event()
    runtime.install_stop_signals(stop)
    seen = 0

    async def on_message(msg: Msg) -> None:
        nonlocal seen
        if stop.is_set():
            return
        sys.stdout.write(render(msg.subject, msg.data, as_json=as_json) + "\n")
        sys.stdout.flush()
        seen += 1
        if count is not None and seen >= count:
            stop.set()

    try:
        await nc.subscribe(subject, cb=on_message)
        await nc.flush()
        sys.stderr.write(f"tailing {subject} on {settings.redacted_url()}; Ctrl-C stops\n")
        sys.stderr.flush()
        await stop.wait()
    finally:
        await nc.close()


def tail(
    subject: Annotated[str, typer.Argument(help="Subject or wildcard, e.g. 'mt5.ftmo-001.>'.")],
    nats_url: NatsUrlOption = None,
    data: DataOption = Path("data"),
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per line: subject, type, message.")
    ] = False,
    count: Annotated[
        int | None, typer.Option("--count", "-n", min=1, help="Stop after this many messages.")
    ] = None,
) -> None:
    """Print live messages on SUBJECT, one line each, decoded and validated.

    Facts (mt5.*) and commands (cmd.*) are checked against their wire schemas; a message
    that fails is printed as INVALID with the reason. Other subjects are shown as JSON.
    """
    if not subject or any(c.isspace() for c in subject):
        runtime.fail(f"subject {subject!r} must be non-empty and have no spaces")
    url = runtime.nats_url(nats_url, data)
    runtime.run(lambda: _tail(url, subject, as_json=as_json, count=count))


def register(app: typer.Typer) -> None:
    app.command("tail")(tail)
