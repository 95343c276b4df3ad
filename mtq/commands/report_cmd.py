"""`mtq report ACCOUNT [--from --to] [--json] [--html FILE]`: an account's performance.

The report is `mtq.query.analytics` (the projector's `mtq-query`), or with `--db` the views
database read directly; both give the same document (projections/README.md, "Analytics").
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table

from bus import subjects
from bus.connection import connect, settings_from_env
from mtq import runtime
from mtq.options import DataOption, NatsUrlOption
from mtq.report_html import report_html, shown, stat_rows
from projections import analytics_reads
from projections.db import open_database
from projections.queries import UnknownAccount, parse_time

REQUEST_TIMEOUT_S = 30.0

FromOption = Annotated[
    str | None, typer.Option("--from", help="Trades closed at or after this time (ISO-8601).")
]
ToOption = Annotated[str | None, typer.Option("--to", help="Trades closed before this time.")]
DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Read the views database (sqlite:///PATH or postgresql://...) instead of asking "
        "the projector's mtq.query.analytics.",
    ),
]


def register(app: typer.Typer) -> None:
    app.command("report")(report_command)


def report_command(  # noqa: PLR0917 - typer options
    account: Annotated[str, typer.Argument(help="Account id.")],
    from_: FromOption = None,
    to: ToOption = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    html: Annotated[
        Path | None,
        typer.Option("--html", help="Write an HTML report with charts (self-contained) here."),
    ] = None,
    db: DbOption = None,
    nats_url: NatsUrlOption = None,
    data: DataOption = Path("data"),
) -> None:
    """Statistics of the trades closed in [from, to) and of the equity in it: a table, JSON,
    or an HTML file with the equity, drawdown, daily P/L and P/L-by-hour charts."""
    start, end = time_option(from_, "--from"), time_option(to, "--to")
    if start and end and start > end:
        runtime.fail(f"--from {from_} is after --to {to}")
    if db is not None:
        report = _from_db(db, account, start, end)
    else:
        url = runtime.nats_url(nats_url, data)
        report = runtime.run(lambda: _from_nats(url, account, start, end))
    if html is not None:
        html.write_text(report_html(report), encoding="utf-8")
        runtime.err_console.print(f"wrote {html}", highlight=False)
    if json_out:
        print(json.dumps(report, indent=2))
    elif html is None:
        print_report(report)


def time_option(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_time(text)
    except ValueError:
        runtime.fail(f"{option} {text!r} is not a time (ISO-8601, e.g. 2026-03-02T09:00:00Z)")


def _from_db(url: str, account: str, start: datetime | None, end: datetime | None) -> Any:
    try:
        db = open_database(url, create=False)
    except Exception as exc:  # noqa: BLE001 - any driver error: one line
        runtime.fail(f"cannot open the views database {url}: {exc}")
    try:
        analytics_reads.require_account(db, account)
        return analytics_reads.analytics_report(db, account, start, end)
    except UnknownAccount:
        runtime.fail(f"unknown account {account}: the views have nothing of it")
    except Exception as exc:  # noqa: BLE001 - e.g. a file that holds no views
        runtime.fail(f"cannot read the views database {url}: {exc}")
    finally:
        db.close()


async def _from_nats(url: str, account: str, start: datetime | None, end: datetime | None) -> Any:
    body: dict[str, Any] = {"account": account}
    if start is not None:
        body["since"] = start.isoformat()
    if end is not None:
        body["until"] = end.isoformat()
    nc = await connect(settings_from_env(url, name="mtq-report"))
    subject = subjects.query("analytics")
    try:
        data = await runtime.ask_service(
            nc, subject, json.dumps(body).encode(), responder="projector",
            start_hint="start `mtq up` or use --db", timeout_s=REQUEST_TIMEOUT_S,
        )  # fmt: skip
    finally:
        await nc.close()
    return json.loads(data)["analytics"]


def print_report(report: dict[str, Any]) -> None:
    out = runtime.console
    span = f"{report.get('from') or 'start'} to {report.get('to') or 'now'}"
    out.print(f"[bold]{report['account_id']}[/bold]  {span}", highlight=False)
    stats = Table(box=box.SIMPLE, show_header=False)
    stats.add_column("statistic")
    stats.add_column("value", justify="right")
    for label, value in stat_rows(report["stats"]):
        stats.add_row(label, value)
    out.print(stats)
    for title, groups in (("symbol", report["by_symbol"]), ("strategy", report["by_strategy"])):
        if groups:
            out.print(_groups(title, groups))
    if report["daily"]:
        out.print(_daily(report["daily"]))


def _groups(title: str, groups: dict[str, dict[str, Any]]) -> Table:
    table = Table(title=f"by {title}", box=box.SIMPLE, title_justify="left")
    for column in (title, "trades", "win rate", "net P/L", "profit factor", "expectancy"):
        table.add_column(column, justify="left" if column == title else "right")
    for name, s in groups.items():
        table.add_row(
            name,
            str(s["trades"]),
            shown(s["win_rate"], "win_rate"),
            shown(s["net_profit"]),
            shown(s["profit_factor"], "profit_factor"),
            shown(s["expectancy"]),
        )
    return table


def _daily(days: list[dict[str, Any]]) -> Table:
    table = Table(title="daily P/L", box=box.SIMPLE, title_justify="left")
    for column in ("date", "trades", "wins", "net P/L"):
        table.add_column(column, justify="left" if column == "date" else "right")
    for d in days:
        style = "green" if d["net_profit"] > 0 else "red" if d["net_profit"] < 0 else ""
        net = f"[{style}]{shown(d['net_profit'])}[/{style}]" if style else shown(d["net_profit"])
        table.add_row(d["date"], str(d["trades"]), str(d["wins"]), net)
    return table
