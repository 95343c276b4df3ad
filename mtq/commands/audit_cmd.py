"""`mtq audit verify|whatif`: replay the fact log and compare decisions."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from nats.aio.client import Client
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from bus.connection import connect, settings_from_env
from engine.audit_replay import VerifyResult, WhatIfResult
from engine.audit_run import run_verify, run_whatif
from engine.bootstrap import engine_rules
from engine.store import RiskStore, open_store
from mtq import runtime
from mtq.configs import ConfigPaths, load_or_exit
from mtq.options import DataOption, NatsUrlOption

app = typer.Typer(no_args_is_help=True, help="Replay the fact log and check the decisions.")

AccountFilter = Annotated[
    list[str] | None, typer.Option("--account", help="Only this account (repeatable).")
]
T = TypeVar("T")


Report = Callable[[int], None]
Work = Callable[[Client, RiskStore, Report, Report], Awaitable[T]]


def _with_progress(url: str, label: str, work: Work[T]) -> T:
    async def main() -> T:
        settings = settings_from_env(url, name="mtq-audit")
        nc = await connect(settings)
        store = await asyncio.to_thread(lambda: open_store(settings.url, auth=settings.auth))
        columns = (TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        try:
            with Progress(*columns, console=runtime.err_console, transient=True) as bar:
                task = bar.add_task(label, total=None)
                return await work(
                    nc,
                    store,
                    lambda n: bar.update(task, total=n),
                    lambda seq: bar.update(task, completed=seq),
                )
        finally:
            await nc.close()

    return runtime.run(main)


@app.command("verify")
def verify_command(
    account: AccountFilter = None,
    nats_url: NatsUrlOption = None,
    data: DataOption = Path("data"),
) -> None:
    """Replay MT5 through the domain with the recorded limits; compare with RISK.

    Prints `identical: N facts, M decisions, K accounts` (exit 0) or the first difference
    (exit 1).
    """
    url = runtime.nats_url(nats_url, data)
    accounts = set(account) if account else None

    async def work(nc: Client, store: RiskStore, total: Report, done: Report) -> VerifyResult:
        return await run_verify(nc, store, accounts=accounts, on_total=total, progress=done)

    result = _with_progress(url, "replaying facts", work)
    runtime.console.print(result.summary(), highlight=False, markup=False)
    raise typer.Exit(0 if result.identical else 1)


@app.command("whatif")
def whatif_command(
    config: ConfigPaths,
    account: AccountFilter = None,
    nats_url: NatsUrlOption = None,
    data: DataOption = Path("data"),
) -> None:
    """Replay the same facts and requests under another config; print what would differ.

    Exit 0 when nothing would differ, 1 when some decision would.
    """
    rules = engine_rules(load_or_exit(config))
    url = runtime.nats_url(nats_url, data)
    accounts = set(account) if account else None

    async def work(nc: Client, store: RiskStore, total: Report, done: Report) -> WhatIfResult:
        return await run_whatif(nc, store, rules, accounts=accounts, on_total=total,
                                progress=done)  # fmt: skip

    result = _with_progress(url, "replaying facts", work)
    for line in result.lines():
        runtime.console.print(line, highlight=False, markup=False)
    raise typer.Exit(1 if result.differences else 0)
