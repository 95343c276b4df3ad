"""`mtq export ACCOUNT --kind K --format F [--from --to] --out FILE`: one account's rows.

Trades and equity come from the views database (`--db`, default the data dir's), decisions
from RISK and facts from MT5 on NATS; the same batches and encodings as
`GET /accounts/{id}/export`, with a progress bar on stderr.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bus.connection import connect, settings_from_env
from mtq import runtime
from mtq.commands.report_cmd import time_option
from mtq.options import DataOption, NatsUrlOption
from projections import analytics_reads, exports
from projections.db import Database, default_url, open_database
from projections.export_formats import Format, encoded
from projections.exports import Kind, Row, Span
from projections.queries import UnknownAccount

T = TypeVar("T")


def register(app: typer.Typer) -> None:
    app.command("export")(export_command)


def export_command(  # noqa: PLR0917 - typer options
    account: Annotated[str, typer.Argument(help="Account id.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The file to write.")],
    kind: Annotated[
        Kind, typer.Option("--kind", help="trades, equity, decisions or facts.")
    ] = "trades",
    fmt: Annotated[Format, typer.Option("--format", help="csv or parquet.")] = "csv",
    from_: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="Rows at or after this time (ISO-8601): a trade's close, a minute, a "
            "decision's timestamp, a fact's time.",
        ),
    ] = None,
    to: Annotated[str | None, typer.Option("--to", help="Rows before this time.")] = None,
    db: Annotated[
        str | None,
        typer.Option("--db", help="The views database for trades and equity (default: DATA's)."),
    ] = None,
    nats_url: NatsUrlOption = None,
    data: DataOption = Path("data"),
) -> None:
    """Write the account's trades (closed in [from, to)), equity minutes, decisions or facts
    to a CSV or Parquet file, batch by batch."""
    start, end = time_option(from_, "--from"), time_option(to, "--to")
    if start and end and start > end:
        runtime.fail(f"--from {from_} is after --to {to}")
    span = Span(account, start, end)
    if kind in {"trades", "equity"}:
        rows = _from_views(db or default_url(data), kind, fmt, span, out)
    else:
        url = runtime.nats_url(nats_url, data)
        rows = runtime.run(lambda: _from_log(url, kind, fmt, span, out))
    runtime.err_console.print(f"wrote {rows} {kind} rows to {out}", highlight=False)


def _progress(kind: Kind) -> Progress:
    columns = (TextColumn(kind), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    return Progress(*columns, console=runtime.err_console, transient=True)


async def _write(
    batches: AsyncIterator[list[Row]], kind: Kind, fmt: Format, out: Path, total: int
) -> int:
    """Write the encoded batches to `out` (through a temporary file); the rows written."""
    written = 0
    partial = out.with_name(out.name + ".partial")
    with _progress(kind) as bar, partial.open("wb") as handle:
        task = bar.add_task(kind, total=total)

        async def counted() -> AsyncIterator[list[Row]]:
            nonlocal written
            async for rows in batches:
                written += len(rows)
                bar.update(task, completed=written)
                yield rows

        async for chunk in encoded(counted(), kind, fmt):
            handle.write(chunk)
    partial.replace(out)
    return written


def _from_views(url: str, kind: Kind, fmt: Format, span: Span, out: Path) -> int:
    try:
        db = open_database(url, create=False)
    except Exception as exc:  # noqa: BLE001 - any driver error: one line
        runtime.fail(f"cannot open the views database {url}: {exc}")
    try:
        analytics_reads.require_account(db, span.account_id)
        total = exports.count_view(db, kind, span)

        async def run(work: Callable[[Database], T]) -> T:
            return work(db)

        batches = exports.view_batches(run, kind, span)
        return runtime.run(lambda: _write(batches, kind, fmt, out, total))
    except UnknownAccount:
        runtime.fail(f"unknown account {span.account_id}: the views have nothing of it")
    finally:
        db.close()


async def _from_log(url: str, kind: Kind, fmt: Format, span: Span, out: Path) -> int:
    nc = await connect(settings_from_env(url, name="mtq-export"))
    try:
        js = nc.jetstream()
        total: Any = await exports.count_log(js, kind, span.account_id)
        if not total:
            runtime.fail(f"unknown account {span.account_id}: no {kind} in the log")
        return await _write(exports.log_batches(js, kind, span), kind, fmt, out, total)
    finally:
        await nc.close()
