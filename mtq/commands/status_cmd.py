"""`mtq status [ACCOUNT]`: each agent's state and health, from the mtq-agents service."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer
from nats.aio.client import Client
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.errors import NotFoundError
from rich import box
from rich.markup import escape
from rich.table import Table

from bus import subjects
from bus.codec import DecodeError, decode_fact
from bus.connection import connect, resolve_url, settings_from_env
from bus.schemas import AccountSnapshot
from mtq import runtime
from mtq.options import DataOption, NatsUrlOption

REQUEST_TIMEOUT_S = 5.0
HEALTH_STYLE = {"HEALTHY": "green", "DEGRADED": "yellow", "UNHEALTHY": "red", "UNKNOWN": "dim"}


class ServiceProblem(Exception):
    """The service did not answer, or answered with an error."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


async def fetch_status(nc: Client, account: str | None) -> list[dict[str, Any]]:
    """Ask `mtq.agents.list` and add each account's last equity from the MT5 stream."""
    body = json.dumps({"account": account}).encode() if account else b""
    try:
        reply = await nc.request(f"{subjects.AGENTS_PREFIX}.list", body, timeout=REQUEST_TIMEOUT_S)
    except (NoRespondersError, NatsTimeoutError, TimeoutError):
        raise ServiceProblem(
            f"the {subjects.SERVICE_AGENTS} service did not answer "
            "(is `mtq supervisor run` or `mtq up` running?)",
            runtime.EXIT_PROBLEMS,
        ) from None
    headers = reply.headers or {}
    if "Nats-Service-Error-Code" in headers:
        code = headers["Nats-Service-Error-Code"]
        usage = code in ("400", "404")
        raise ServiceProblem(
            headers.get("Nats-Service-Error", f"error {code}"),
            runtime.EXIT_USAGE if usage else runtime.EXIT_PROBLEMS,
        )
    rows: list[dict[str, Any]] = json.loads(reply.data)["accounts"]
    equities = await asyncio.gather(*(_last_snapshot(nc, row["account"]) for row in rows))
    for row, snapshot in zip(rows, equities, strict=True):
        row["equity"] = snapshot.equity if snapshot else None
        row["currency"] = snapshot.currency if snapshot else None
    return rows


async def _last_snapshot(nc: Client, account_id: str) -> AccountSnapshot | None:
    subject = subjects.account_snapshot(account_id)
    try:
        msg = await nc.jetstream().get_last_msg(subjects.STREAM_FACTS, subject)
        fact = decode_fact(subject, msg.data or b"")
    except (NotFoundError, DecodeError, NatsTimeoutError, TimeoutError):
        return None
    return fact if isinstance(fact, AccountSnapshot) else None


def status_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(title="mtq agents", box=box.SIMPLE_HEAD, padding=(0, 1), collapse_padding=True)
    for column in ("account", "state", "health", "pid", "restarts", "breaker"):
        table.add_column(column, overflow="fold")
    for column in ("latency ms", "tick age s", "buffered", "equity"):
        table.add_column(column, justify="right", overflow="fold")
    table.add_column("notes", overflow="fold")
    for row in rows:
        beat = row.get("last_heartbeat") or {}
        ages = beat.get("last_tick_age_s") or {}
        health = row["health"]
        notes = list(row.get("health_details") or [])
        if row.get("next_restart_at"):
            notes.append(f"next restart {row['next_restart_at']}")
        if not row.get("enabled", True):
            notes.append("disabled")
        table.add_row(
            escape(row["account"]),
            row["state"],
            f"[{HEALTH_STYLE.get(health, 'white')}]{health}[/]",
            _text(row.get("pid")),
            str(row.get("restart_count", 0)),
            _text(beat.get("breaker_state")),
            _number(beat.get("terminal_latency_ms"), 0),
            _number(max(ages.values()) if ages else None, 1),
            _text(beat.get("events_buffered")),
            _equity(row),
            escape("; ".join(notes)),
        )
    return table


def _text(value: Any) -> str:
    return "-" if value is None else str(value)


def _number(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _equity(row: dict[str, Any]) -> str:
    if row.get("equity") is None:
        return "-"
    return f"{row['equity']:,.2f} {row.get('currency') or ''}".strip()


async def _status(url: str, account: str | None, as_json: bool) -> None:
    settings = replace(settings_from_env(url, name="mtq-status"), allow_reconnect=False)
    nc = await connect(settings)
    try:
        rows = await fetch_status(nc, account)
    except ServiceProblem as exc:
        runtime.fail(str(exc), exc.code)
    finally:
        await nc.close()
    if as_json:
        runtime.console.print_json(json.dumps(rows))
    else:
        runtime.console.print(status_table(rows))


def status(
    account: Annotated[str | None, typer.Argument(help="Only this account.")] = None,
    nats_url: NatsUrlOption = None,
    data: DataOption = Path("data"),
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Show each agent's state, health, restarts and last heartbeat (from mtq.agents.list)."""
    if account is not None and not subjects.is_token(account):
        runtime.fail(f"invalid account id {account!r}: {subjects.TOKEN_RULE}")
    runtime.run(lambda: _status(resolve_url(nats_url, data), account, as_json))


def register(app: typer.Typer) -> None:
    app.command("status")(status)
