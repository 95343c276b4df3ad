"""`mtq news import FILE` and `mtq news list`: the news calendar of the blackout rule.

`import` validates a CSV or iCalendar file (every problem as file:line, exit 2) and sends
it to the engine (`mtq.risk.calendar.<identity>`, admin only), which records it as
`CalendarImported` on every account with a `news_blackout`, so an audit sees which
calendar was in force and decides again from it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import msgspec
import typer

from bus import subjects
from bus.codec import encode
from bus.schemas.base import Message
from bus.schemas.news import (
    CalendarImportReply,
    CalendarImportRequest,
    NewsEventWire,
    NewsListReply,
    NewsListRequest,
)
from config.calendar import CalendarError, load_calendar
from config.errors import ConfigFileError
from domain.news import Calendar
from mtq import runtime
from mtq.options import DataOption, NatsUrlOption

app = typer.Typer(no_args_is_help=True, help="The news calendar of the blackout rule.")


def read_calendar_or_exit(path: Path) -> Calendar:
    """The calendar in `path`; its problems printed as file:line and exit 2 otherwise."""
    try:
        return load_calendar(path)
    except ConfigFileError as exc:
        runtime.fail(str(exc))
    except CalendarError as exc:
        for line in exc.result.lines() if exc.result else [str(exc)]:
            runtime.err_console.print(line, highlight=False, markup=False)
        runtime.fail(f"{path} is not a valid news calendar; nothing was imported")


async def _ask(url: str, subject: str | None, request: Message) -> bytes:
    """Ask `subject`; None: this identity's own calendar subject."""
    return await runtime.ask_engine(
        url, "mtq-news-cli", subject or subjects.risk_calendar, encode(request),
        what="import a calendar", timeout_s=30,
    )  # fmt: skip


@app.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(help="A CSV or iCalendar (.ics) file of events.")],
    check: Annotated[
        bool, typer.Option("--check", help="Only validate the file; send nothing.")
    ] = False,
    nats_url: NatsUrlOption = None,
    data: DataOption = Path("data"),
) -> None:
    """Validate FILE and put it in force on every account with a news_blackout."""
    calendar = read_calendar_or_exit(file)
    runtime.console.print(
        f"{file.name}: {len(calendar.events)} events, {calendar.digest}", highlight=False
    )
    if check:
        return
    request = CalendarImportRequest(
        source=calendar.source,
        events=tuple(
            NewsEventWire(time=e.time, impact=e.impact, title=e.title,
                          currencies=e.currencies, instruments=e.instruments)
            for e in calendar.events
        ),
    )  # fmt: skip
    url = runtime.nats_url(nats_url, data)
    reply = msgspec.json.decode(runtime.run(lambda: _ask(url, None, request)),
                                type=CalendarImportReply)  # fmt: skip
    if reply.recorded:
        runtime.console.print(f"recorded on: {', '.join(reply.recorded)}", highlight=False)
    if reply.unchanged:
        runtime.console.print(f"already in force on: {', '.join(reply.unchanged)}", highlight=False)
    if not reply.recorded and not reply.unchanged:
        runtime.console.print("no account has a news_blackout rule: nothing recorded")


@app.command("list")
def list_command(
    account: Annotated[str | None, typer.Option("--account", help="One account only.")] = None,
    upcoming: Annotated[bool, typer.Option("--upcoming", help="Only events from now on.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the reply as JSON.")] = False,
    nats_url: NatsUrlOption = None,
    data: DataOption = Path("data"),
) -> None:
    """The calendar in force on each account, and its events."""
    since = datetime.now(UTC) if upcoming else None
    request = NewsListRequest(account_id=account, since=since)
    url = runtime.nats_url(nats_url, data)
    raw = runtime.run(lambda: _ask(url, subjects.RISK_NEWS, request))
    if as_json:
        print(json.dumps(json.loads(raw), indent=2))
        return
    reply = msgspec.json.decode(raw, type=NewsListReply)
    for entry in reply.accounts:
        rule = "news_blackout" if entry.blackout else "no news_blackout"
        where = f"{entry.source} {entry.digest}" if entry.digest else "no calendar"
        runtime.console.print(f"{entry.account_id}: {rule}, {where}", highlight=False)
    for event in reply.events:
        moved = ",".join(event.currencies + event.instruments)
        runtime.console.print(
            f"  {event.time.isoformat()}  {event.impact:<6}  {moved:<12}  {event.title}",
            highlight=False,
            markup=False,
        )
