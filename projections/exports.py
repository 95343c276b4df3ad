"""Exports of one account, batch by batch: trades and equity from the views, decisions from
RISK, facts from MT5. No range is ever held whole: the views are read by keyset pages, the
streams by an ordered consumer, one batch at a time (`export_formats` encodes each batch).

Ranges are `[start, end)` on: a trade's close, an equity minute, a decision's timestamp, a
fact's time as the projector stamps it (`replay.fact_time`). A fact that cannot be decoded
has no time: it is exported only when neither side of the range is set.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal, TypeVar, get_args

from nats.js.client import JetStreamContext
from nats.js.errors import NotFoundError

from bus import subjects
from bus.codec import DecodeError, decode_fact
from bus.reader import FactReader
from domain.account import account_risk_id
from projections.analytics import Trade
from projections.analytics_reads import msc, trade_doc
from projections.db import Database
from projections.replay import fact_time
from projections.trades import COLUMNS as TRADE_FIELDS
from projections.views import decision_seq, decode_decision

Kind = Literal["trades", "equity", "decisions", "facts"]
KINDS: Final[tuple[str, ...]] = get_args(Kind)
BATCH: Final = 5000
T = TypeVar("T")
Row = dict[str, Any]
RunOnDb = Callable[[Callable[[Database], T]], Awaitable[T]]

EQUITY_FIELDS: Final = (
    "minute",
    "equity_open",
    "equity_high",
    "equity_low",
    "equity_close",
    "balance_open",
    "balance_high",
    "balance_low",
    "balance_close",
    "samples",
)


@dataclass(frozen=True)
class Span:
    """One account over [start, end) (None: open on that side)."""

    account_id: str
    start: datetime | None = None
    end: datetime | None = None


def _range(column: str, start: Any, end: Any) -> tuple[str, list[Any]]:
    clauses, params = "", []
    if start is not None:
        clauses += f" AND {column} >= ?"
        params.append(start)
    if end is not None:
        clauses += f" AND {column} < ?"
        params.append(end)
    return clauses, params


def _minute(at: datetime | None) -> str | None:
    return None if at is None else at.astimezone(UTC).isoformat()[:16]


def trades_page(
    db: Database, span: Span, after: tuple[int, int] | None, *, size: int = BATCH
) -> tuple[list[Row], tuple[int, int] | None]:
    """Up to `size` trades closed in [start, end) after the key (close msc, identifier), and
    the key of the last one."""
    where, params = _range("closed_msc", msc(span.start), msc(span.end))
    if after is not None:
        where += " AND (closed_msc > ? OR (closed_msc = ? AND identifier > ?))"
        params += [after[0], after[0], after[1]]
    rows = db.query(
        f"SELECT {', '.join(TRADE_FIELDS)} FROM proj_trades WHERE account_id = ?"
        f" AND closed_msc IS NOT NULL{where} ORDER BY closed_msc, identifier LIMIT ?",
        [span.account_id, *params, size],
    )
    trades = [Trade(**dict(zip(TRADE_FIELDS, r, strict=True))) for r in rows]
    key = (trades[-1].closed_msc, trades[-1].identifier) if trades else None
    return [trade_doc(t) for t in trades], key


def equity_page(
    db: Database, span: Span, after: str | None, *, size: int = BATCH
) -> tuple[list[Row], str | None]:
    """Up to `size` equity minutes in [start, end) after the minute `after`, and the last."""
    where, params = _range("minute", _minute(span.start), _minute(span.end))
    if after is not None:
        where += " AND minute > ?"
        params.append(after)
    rows = db.query(
        f"SELECT {', '.join(EQUITY_FIELDS)} FROM proj_equity WHERE account_id = ?{where}"
        " ORDER BY minute LIMIT ?",
        [span.account_id, *params, size],
    )
    found = [dict(zip(EQUITY_FIELDS, r, strict=True)) for r in rows]
    return found, found[-1]["minute"] if found else None


def count_view(db: Database, kind: Kind, span: Span) -> int:
    """How many rows a trades or equity export of the span has."""
    if kind == "trades":
        where, params = _range("closed_msc", msc(span.start), msc(span.end))
        sql = "SELECT COUNT(*) FROM proj_trades WHERE account_id = ? AND closed_msc IS NOT NULL"
    else:
        where, params = _range("minute", _minute(span.start), _minute(span.end))
        sql = "SELECT COUNT(*) FROM proj_equity WHERE account_id = ?"
    [(total,)] = db.query(sql + where, [span.account_id, *params])
    return int(total)


async def view_batches(
    run: RunOnDb[tuple[list[Row], Any]], kind: Kind, span: Span, *, size: int = BATCH
) -> AsyncIterator[list[Row]]:
    """Trades (close order) or equity minutes (time order), `size` rows at a time; `run`
    runs a read on the views (the caller's thread for them)."""
    page: Callable[..., tuple[list[Row], Any]] = trades_page if kind == "trades" else equity_page
    key: Any = None
    while True:
        rows, key = await run(functools.partial(_page, page, span, key, size))
        if rows:
            yield rows
        if len(rows) < size:
            return


def _page(
    page: Callable[..., tuple[list[Row], Any]], span: Span, after: Any, size: int, db: Database
) -> tuple[list[Row], Any]:
    return page(db, span, after, size=size)


def log_filter(kind: Kind, account_id: str) -> tuple[str, str]:
    """The stream and the one subject filter of an account's decisions or facts."""
    if kind == "decisions":
        return subjects.STREAM_RISK, subjects.aggregate_events(str(account_risk_id(account_id)))
    return subjects.STREAM_FACTS, subjects.account_facts(account_id)


async def count_log(js: JetStreamContext, kind: Kind, account_id: str) -> int:
    """How many messages the account has on the stream (the range may take fewer)."""
    stream, subject = log_filter(kind, account_id)
    try:
        info = await js.stream_info(stream, subjects_filter=subject)
    except NotFoundError:
        return 0
    return sum((info.state.subjects or {}).values())


def decision_row(seq: int, subject: str, data: bytes) -> Row:
    """A decision as exported: where, what, when, the fact it names, the body as recorded."""
    body = decode_decision(data)
    stamp = None if body is None else body.get("timestamp")
    return {
        "seq": seq,
        "subject": subject,
        "type": subject.rsplit(".", 1)[-1],
        "time": None if stamp is None else datetime.fromisoformat(str(stamp)).isoformat(),
        "fact_seq": decision_seq(body),
        "data": data.decode("utf-8", "replace"),
    }


def fact_row(seq: int, subject: str, data: bytes) -> Row:
    try:
        fact = decode_fact(subject, data)
    except DecodeError:
        kind, time = "undecodable", None
    else:
        kind, time = type(fact).__name__, fact_time(fact).isoformat()
    return {
        "seq": seq,
        "subject": subject,
        "type": kind,
        "time": time,
        "data": data.decode("utf-8", "replace"),
    }


def _in_range(time: str | None, start: datetime | None, end: datetime | None) -> bool:
    if time is None:
        return start is None and end is None
    at = datetime.fromisoformat(time)
    return (start is None or at >= start) and (end is None or at < end)


async def log_batches(
    js: JetStreamContext, kind: Kind, span: Span, *, size: int = BATCH
) -> AsyncIterator[list[Row]]:
    """The account's decisions (RISK) or facts (MT5) in stream order, as they are now."""
    stream, subject = log_filter(kind, span.account_id)
    try:
        last = (await js.get_last_msg(stream, subject)).seq or 0
    except NotFoundError:
        return
    reader = FactReader(lambda: js, 1, stream=stream, filters=(subject,), batch=size)
    idle = 0
    try:
        while reader.next_seq <= last and idle < 5:
            batch = await reader.fetch(1.0)
            idle = 0 if batch else idle + 1
            rows = []
            for raw in batch:
                if raw.seq > last:
                    break
                row = (decision_row if kind == "decisions" else fact_row)(
                    raw.seq, raw.subject, raw.data
                )
                if _in_range(row["time"], span.start, span.end):
                    rows.append(row)
            if rows:
                yield rows
    finally:
        await reader.close()
