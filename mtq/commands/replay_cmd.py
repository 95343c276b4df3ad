"""`mtq replay --account ID`: the account's facts and decisions in order, or its views at a time."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bus.connection import connect, settings_from_env
from mtq import runtime
from mtq.configs import load_or_exit
from mtq.options import DataOption, NatsUrlOption
from projections.queries import parse_time
from projections.replay import (
    AccountLog,
    Entry,
    ReplayError,
    between,
    log_size,
    read_account_log,
    state_at,
)
from projections.settings import AccountSettings, settings_for


def register(app: typer.Typer) -> None:
    app.command("replay")(replay_command)


def replay_command(  # noqa: PLR0917 - typer options
    account: Annotated[str, typer.Option("--account", help="The account to replay.")],
    from_: Annotated[
        str | None, typer.Option("--from", help="Only events at or after this time.")
    ] = None,
    to: Annotated[str | None, typer.Option("--to", help="Only events at or before this.")] = None,
    at: Annotated[
        str | None,
        typer.Option("--at", help="Print the status, positions and risk as of this time."),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="JSON lines for tools.")] = False,
    config: Annotated[
        list[Path] | None,
        typer.Option(
            "--config", "-c", help="The accounts' config (tolerances, health limits, ids)."
        ),
    ] = None,
    nats_url: NatsUrlOption = None,
    data: DataOption = Path("data"),
) -> None:
    """Print the account's facts and decisions in the projector's order, each decision with
    what it changed; with `--at T`, its status, positions and risk as the projector showed
    them at T. A bad time or an unknown account: one line, exit 2."""
    start, end, moment = _time(from_, "--from"), _time(to, "--to"), _time(at, "--at")
    if moment is not None and (start or end):
        runtime.fail("--at prints the views at one time; it takes no --from/--to")
    if start and end and start > end:
        runtime.fail(f"--from {from_} is after --to {to}")
    settings = _settings(account, config)
    url = runtime.nats_url(nats_url, data)
    log = runtime.run(lambda: _read(url, account))
    if not config and log.empty:
        runtime.fail(f"unknown account {account}: no facts or decisions in the log")
    if moment is not None:
        try:
            state = state_at(log, settings, moment)
        except ReplayError as exc:
            runtime.fail(str(exc))
        _print_state(state, json_out)
        return
    for entry in between(log.merged(), start, end):
        _print_entry(entry, json_out)


def _time(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_time(text)
    except ValueError:
        runtime.fail(f"{option} {text!r} is not a time (ISO-8601, e.g. 2026-03-02T09:00:00Z)")


def _settings(account: str, config: list[Path] | None) -> AccountSettings:
    if not config:
        return AccountSettings(account)
    found = settings_for(load_or_exit(config)).get(account)
    if found is None:
        runtime.fail(f"unknown account {account}: not in {' '.join(str(p) for p in config)}")
    return found


async def _read(url: str, account: str) -> AccountLog:
    settings = settings_from_env(url, name="mtq-replay")
    nc = await connect(settings)
    try:
        js = nc.jetstream()
        facts, decisions = await log_size(js, account)
        columns = (TextColumn("replay"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(
            *columns, console=runtime.err_console, transient=True, disable=facts + decisions < 5000
        ) as bar:
            task = bar.add_task("replay", total=facts + decisions)
            return await read_account_log(
                js, account, progress=lambda n: bar.update(task, completed=n)
            )
    finally:
        await nc.close()


def _print_entry(entry: Entry, json_out: bool) -> None:
    doc = entry.doc()
    if json_out:
        _line(json.dumps(doc, separators=(",", ":")))
        return
    fields = doc.get("changed", doc.get("fields", {}))
    shown = " ".join(f"{k}={_value(v)}" for k, v in fields.items())
    _line(f"{doc['time'] or '-'}  {entry.source} #{entry.seq}  {entry.kind}  {shown}".rstrip())


def _value(value: Any) -> str:
    if isinstance(value, str):
        return value if value and " " not in value else json.dumps(value)
    return json.dumps(value, separators=(",", ":"))


def _print_state(state: dict[str, Any], json_out: bool) -> None:
    if json_out:
        _line(json.dumps(state, separators=(",", ":")))
        return
    status, risk = state["status"], state["risk"] or {}
    account = status.get("account") or {}
    trading = status["trading"]
    _line(f"{state['account_id']} at {state['at']}")
    _line(f"  health    {status['health']['status']} {' '.join(status['health']['reasons'])}")
    _line(f"  trading   {trading['state']} ({trading['reason'] or '-'}, {trading['actor'] or '-'})")
    if account:
        _line(f"  money     balance {account['balance']:,.2f} equity {account['equity']:,.2f} "
              f"{account['currency']}")  # fmt: skip
    for rule in ("daily", "max"):
        dd = status["drawdown"].get(rule)
        if dd:
            _line(f"  {rule:<9} loss {dd['value']} of {dd['budget']} "
                  f"({dd['percent_used']}% used), floor {dd['floor']}")  # fmt: skip
    counts = risk.get("counts", {})
    if counts:
        _line("  risk      " + " ".join(f"{k}={v}" for k, v in counts.items()))
    _line(f"  positions {status['positions']['open']} open, {status['positions']['closed']} closed")
    for pos in state["positions"]:
        closed = pos.get("closed") or {}
        end = f"closed {closed['reason']} {closed['realized']}" if closed else "open"
        _line(f"    {pos['identifier']} {pos['symbol']} {pos['side']} {pos['volume']} "
              f"@ {pos['price_open']} sl {pos['sl']} tp {pos['tp']} {end}")  # fmt: skip


def _line(text: str) -> None:
    sys.stdout.write(text + "\n")
