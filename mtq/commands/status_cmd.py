"""`mtq status [ACCOUNT]`: each account's agent, money, drawdown and trading state.

From the supervisor (`mtq.agents.list`) and the status view (`mtq.query.status`).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

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
from bus.connection import connect, settings_from_env
from bus.datadir import data_dirs_in_use, owner_running
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
    """Rows of `mtq.agents.list`, each with the status view's money, drawdown and state.

    The status view comes from `mtq.query.status` (the projector); without a projector the
    equity is the account's last snapshot in MT5. Without a supervisor the rows are the
    status view's own (agent lifecycle and health as the projector last saw them).
    """
    found = await asyncio.gather(_agents(nc, account), _view(nc, account))
    agents: list[dict[str, Any]] | ServiceProblem = found[0]
    view: dict[str, dict[str, Any]] | None = found[1]
    if isinstance(agents, ServiceProblem):
        if view is None or agents.code == runtime.EXIT_USAGE:
            raise agents
        return [_row_from_view(doc) for doc in view.values()]
    rows = agents
    if view is None:
        equities = await asyncio.gather(*(_last_snapshot(nc, row["account"]) for row in rows))
        for row, snapshot in zip(rows, equities, strict=True):
            row["equity"] = snapshot.equity if snapshot else None
            row["currency"] = snapshot.currency if snapshot else None
        return rows
    for row in rows:
        _add_view(row, view.get(row["account"]))
    return rows


async def _agents(nc: Client, account: str | None) -> list[dict[str, Any]] | ServiceProblem:
    body = json.dumps({"account": account}).encode() if account else b""
    try:
        reply = await nc.request(f"{subjects.AGENTS_PREFIX}.list", body, timeout=REQUEST_TIMEOUT_S)
    except (NoRespondersError, NatsTimeoutError, TimeoutError):
        return ServiceProblem(
            f"the {subjects.SERVICE_AGENTS} service did not answer "
            "(is `mtq supervisor run` or `mtq up` running?)",
            runtime.EXIT_PROBLEMS,
        )
    headers = reply.headers or {}
    if "Nats-Service-Error-Code" in headers:
        code = headers["Nats-Service-Error-Code"]
        usage = code in ("400", "404")
        return ServiceProblem(
            headers.get("Nats-Service-Error", f"error {code}"),
            runtime.EXIT_USAGE if usage else runtime.EXIT_PROBLEMS,
        )
    rows: list[dict[str, Any]] = json.loads(reply.data)["accounts"]
    return rows


async def _view(nc: Client, account: str | None) -> dict[str, dict[str, Any]] | None:
    """The status view by account, None when no projector answers (or knows the account)."""
    body = json.dumps({"account": account} if account else {}).encode()
    try:
        reply = await nc.request(subjects.query("status"), body, timeout=REQUEST_TIMEOUT_S)
    except (NoRespondersError, NatsTimeoutError, TimeoutError):
        return None
    if "Nats-Service-Error-Code" in (reply.headers or {}):
        return None
    docs = json.loads(reply.data).get("accounts") or []
    return {doc["account_id"]: doc for doc in docs}


def _add_view(row: dict[str, Any], doc: dict[str, Any] | None) -> None:
    money = (doc or {}).get("account") or {}
    row["equity"] = money.get("equity")
    row["currency"] = money.get("currency")
    if doc is None:
        return
    row["balance"] = money.get("balance")
    row["trading"] = doc["trading"]
    row["drawdown"] = doc["drawdown"]
    row["positions"] = doc["positions"]
    row["view_health"] = doc["health"]


def _row_from_view(doc: dict[str, Any]) -> dict[str, Any]:
    life = doc.get("lifecycle") or {}
    row: dict[str, Any] = {
        "account": doc["account_id"],
        "state": life.get("state") or "UNKNOWN",
        "health": doc["health"]["status"],
        "health_details": doc["health"]["details"],
        "pid": life.get("pid"),
        "restart_count": life.get("restart_count", 0),
        "last_heartbeat": doc.get("heartbeat"),
        "source": "status view (no supervisor answered)",
    }
    _add_view(row, doc)
    return row


async def _last_snapshot(nc: Client, account_id: str) -> AccountSnapshot | None:
    subject = subjects.account_snapshot(account_id)
    try:
        msg = await nc.jetstream().get_last_msg(subjects.STREAM_FACTS, subject)
        fact = decode_fact(subject, msg.data or b"")
    except (NotFoundError, DecodeError, NatsTimeoutError, TimeoutError):
        return None
    return fact if isinstance(fact, AccountSnapshot) else None


COLUMNS = (
    "account",
    "state",
    "health",
    "pid",
    "restarts",
    "breaker",
    "latency ms",
    "tick age s",
    "buffered",
    "equity",
    "trading",
    "daily used %",
    "max used %",
    "open",
    "notes",
)
RIGHT = frozenset(
    {
        "pid",
        "restarts",
        "latency ms",
        "tick age s",
        "buffered",
        "equity",
        "daily used %",
        "max used %",
        "open",
    }
)


def status_cells(row: dict[str, Any]) -> list[str]:
    """One account's row as plain text cells, in `COLUMNS` order."""
    beat = row.get("last_heartbeat") or {}
    ages = beat.get("last_tick_age_s") or {}
    notes = list(row.get("health_details") or [])
    trading = row.get("trading") or {}
    if trading.get("state") not in (None, "ACTIVE"):
        notes.append(
            f"{trading['state']} by {trading.get('actor') or '?'}: {trading.get('reason')}"
        )
    if ((row.get("drawdown") or {}).get("daily") or {}).get("anchor_source") == "estimated":
        notes.append("daily anchor estimated (no balance at the reset known)")
    if row.get("next_restart_at"):
        notes.append(f"next restart {row['next_restart_at']}")
    if not row.get("enabled", True):
        notes.append("disabled")
    return [
        row["account"],
        row["state"],
        row["health"],
        _text(row.get("pid")),
        str(row.get("restart_count", 0)),
        _text(beat.get("breaker_state")),
        _number(beat.get("terminal_latency_ms"), 0),
        _number(max(ages.values()) if ages else None, 1),
        _text(beat.get("events_buffered")),
        _equity(row),
        _text((row.get("trading") or {}).get("state")),
        _used(row, "daily"),
        _used(row, "max"),
        _text((row.get("positions") or {}).get("open")),
        "; ".join(notes) or "-",
    ]


def _used(row: dict[str, Any], rule: str) -> str:
    """Percent of the rule's loss budget used, from the status view."""
    found = ((row.get("drawdown") or {}).get(rule) or {}).get("percent_used")
    return _number(found, 1)


def status_table(rows: list[dict[str, Any]]) -> Table:
    """A table for a terminal: ids, states and numbers never wrap; only notes fold."""
    table = Table(title="mtq agents", box=box.SIMPLE_HEAD, padding=(0, 1), collapse_padding=True)
    for column in COLUMNS:
        if column == "notes":
            table.add_column(column, overflow="fold", min_width=10)
        else:
            justify: Literal["left", "right"] = "right" if column in RIGHT else "left"
            table.add_column(column, justify=justify, no_wrap=True)
    for row in rows:
        cells = [escape(cell) for cell in status_cells(row)]
        health = row["health"]
        cells[2] = f"[{HEALTH_STYLE.get(health, 'white')}]{cells[2]}[/]"
        table.add_row(*cells)
    return table


def status_lines(rows: list[dict[str, Any]]) -> list[str]:
    """Plain lines aligned with spaces, one per account (for pipes and scripts)."""
    grid = [list(COLUMNS), *(status_cells(row) for row in rows)]
    widths = [max(len(line[i]) for line in grid) for i in range(len(COLUMNS))]
    lines = []
    for line in grid:
        cells = [
            cell.rjust(width) if name in RIGHT else cell.ljust(width)
            for name, cell, width in zip(COLUMNS, line, widths, strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
    return lines


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
        rows, parts = await asyncio.gather(fetch_status(nc, account), fetch_parts(nc))
    except ServiceProblem as exc:
        runtime.fail(str(exc), exc.code)
    finally:
        await nc.close()
    services, bus = parts
    if as_json:
        # The shape of `mtq.agents.list`, plus each account's last equity and currency.
        # Services and bus come from the supervisor: absent when none answered.
        shown: dict[str, Any] = {"accounts": rows}
        if services is not None:
            shown["services"] = services
        if bus is not None:
            shown["bus"] = bus
        sys.stdout.write(json.dumps(shown, indent=2) + "\n")
    elif sys.stdout.isatty():
        runtime.console.print(status_table(rows))
        if services:
            runtime.console.print(services_table(services))
        if bus is not None and bus.get("state") != "ok":
            runtime.console.print(f"[red]bus: {escape(bus_line(bus))}[/]")
    else:
        lines = status_lines(rows)
        if services:
            lines += ["", *services_lines(services)]
        if bus is not None and bus.get("state") != "ok":
            lines += ["", f"bus: {bus_line(bus)}"]
        sys.stdout.write("".join(line + "\n" for line in lines))


# --- the parts `mtq up` runs beside the agents (engine, projector, API) --------------

SERVICE_COLUMNS = (
    "service", "state", "pid", "restarts", "since", "alive", "last exit", "notes",
)  # fmt: skip


async def fetch_parts(
    nc: Client,
) -> tuple[list[dict[str, Any]] | None, dict[str, Any] | None]:
    """(services, bus) from `mtq.agents.list`: None, None when no supervisor answers."""
    try:
        reply = await nc.request(f"{subjects.AGENTS_PREFIX}.list", b"", timeout=REQUEST_TIMEOUT_S)
    except (NoRespondersError, NatsTimeoutError, TimeoutError):
        return None, None
    if "Nats-Service-Error-Code" in (reply.headers or {}):
        return None, None
    body = json.loads(reply.data)
    return list(body.get("services") or []), body.get("bus")


def service_cells(service: dict[str, Any]) -> list[str]:
    notes = f"next restart {service['next_restart_at']}" if service.get("next_restart_at") else "-"
    return [
        service["name"],
        service["state"],
        _text(service.get("pid")),
        str(service.get("restart_count", 0)),
        _text(service.get("since")),
        _alive_age(service.get("alive_age_s")),
        _text(service.get("last_exit")),
        notes,
    ]


def _alive_age(age_s: float | None) -> str:
    """The last sign of life on the service's liveness pipe, as `0.4s ago`."""
    return "-" if age_s is None else f"{age_s:.1f}s ago"


def services_table(services: list[dict[str, Any]]) -> Table:
    table = Table(title="mtq services", box=box.SIMPLE_HEAD, padding=(0, 1), collapse_padding=True)
    for column in SERVICE_COLUMNS:
        table.add_column(column, no_wrap=column != "notes", overflow="fold")
    for service in services:
        table.add_row(*(escape(cell) for cell in service_cells(service)))
    return table


def services_lines(services: list[dict[str, Any]]) -> list[str]:
    grid = [list(SERVICE_COLUMNS), *(service_cells(s) for s in services)]
    widths = [max(len(line[i]) for line in grid) for i in range(len(SERVICE_COLUMNS))]
    return [
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in grid
    ]


def bus_line(bus: dict[str, Any]) -> str:
    current = bus.get("current") or {}
    return f"{bus.get('state')}: {current.get('cause', '?')} (since {current.get('started', '?')})"


def status(
    account: Annotated[str | None, typer.Argument(help="Only this account.")] = None,
    nats_url: NatsUrlOption = None,
    data: DataOption = Path("data"),
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help='Print {"accounts": [...]} like mtq.agents.list, plus equity and currency '
            "(and, with a projector, balance, trading, drawdown, positions).",
        ),
    ] = False,
) -> None:
    """Show each account: agent state and health, equity, drawdown used, trading state.

    From mtq.agents.list and the status view (mtq.query.status). A table on a terminal;
    plain space-aligned lines, one per account, when piped.
    """
    if account is not None and not subjects.is_token(account):
        runtime.fail(f"invalid account id {account!r}: {subjects.TOKEN_RULE}")
    url = runtime.nats_url(nats_url, data)
    if nats_url is None and not os.environ.get("NATS_URL"):
        _fail_if_nothing_runs(url, data)
    runtime.run(lambda: _status(url, account, as_json))


def _fail_if_nothing_runs(url: str, data: Path) -> None:
    """No owner of `data` and nothing listening on the URL: say so at once, not after retries."""
    if owner_running(data) or _listening(url):
        return
    in_use = data_dirs_in_use()
    where = (
        "; data dirs in use: "
        + ", ".join(f"{path} (pid {holder.pid}, {holder.command})" for path, holder in in_use)
        if in_use
        else "; no mtq up runs on this machine"
    )
    runtime.fail(
        f"no `mtq up` owns {data} and nothing answers at {url}{where} "
        "(start one with `mtq up`, or pass --data DIR or --nats-url URL)",
        runtime.EXIT_USAGE,
    )


def _listening(url: str) -> bool:
    parsed = urlsplit(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 4222), 0.5):
            return True
    except OSError:
        return False


def register(app: typer.Typer) -> None:
    app.command("status")(status)
