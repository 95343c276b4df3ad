"""Reads of the trades and equity views for analytics: trades, pages of them, the report.

Ranges are `[start, end)`: a trade is in when it closed in it, an equity minute when its
minute is in it. None leaves that side open.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final, Literal

from bus.schemas.query import AnalyticsQuery
from projections import analytics, analytics_days
from projections.analytics import Bar, Trade
from projections.db import Database
from projections.queries import UnknownAccount, parse_time
from projections.trades import COLUMNS

SortKey = Literal["closed_at", "opened_at", "symbol", "net_profit", "volume", "duration"]
SORT_SQL: Final[dict[str, str]] = {
    "closed_at": "closed_msc",
    "opened_at": "opened_msc",
    "symbol": "symbol",
    "net_profit": "profit",
    "volume": "volume",
    "duration": "closed_msc - opened_msc",
}


def msc(at: datetime | None) -> int | None:
    return None if at is None else int(at.timestamp() * 1000)


def _minute(at: datetime) -> str:
    return at.astimezone(UTC).isoformat()[:16]


def require_account(db: Database, account_id: str) -> None:
    """UnknownAccount when the views have nothing of the account."""
    if not db.query("SELECT 1 FROM proj_status WHERE account_id = ?", [account_id]):
        raise UnknownAccount(account_id)


def _range(column: str, start: int | None, end: int | None) -> tuple[str, list[Any]]:
    clauses, params = [], []
    if start is not None:
        clauses.append(f"{column} >= ?")
        params.append(start)
    if end is not None:
        clauses.append(f"{column} < ?")
        params.append(end)
    return "".join(f" AND {c}" for c in clauses), params


def trades_in(
    db: Database, account_id: str, start: datetime | None, end: datetime | None
) -> list[Trade]:
    """Closed trades of the account with a close in [start, end), in close order."""
    where, params = _range("closed_msc", msc(start), msc(end))
    rows = db.query(
        f"SELECT {', '.join(COLUMNS)} FROM proj_trades WHERE account_id = ?"
        f" AND closed_msc IS NOT NULL{where} ORDER BY closed_msc, identifier",
        [account_id, *params],
    )
    return [_trade(r) for r in rows]


def trades_page(
    db: Database,
    account_id: str,
    start: datetime | None,
    end: datetime | None,
    *,
    sort: SortKey = "closed_at",
    descending: bool = True,
    offset: int = 0,
    limit: int = 100,
) -> tuple[int, list[Trade]]:
    """How many trades closed in [start, end), and `limit` of them from `offset` in order."""
    where, params = _range("closed_msc", msc(start), msc(end))
    base = f" FROM proj_trades WHERE account_id = ? AND closed_msc IS NOT NULL{where}"
    [(total,)] = db.query("SELECT COUNT(*)" + base, [account_id, *params])
    direction = "DESC" if descending else "ASC"
    rows = db.query(
        f"SELECT {', '.join(COLUMNS)}{base} ORDER BY {SORT_SQL[sort]} {direction},"
        f" identifier {direction} LIMIT ? OFFSET ?",
        [account_id, *params, limit, offset],
    )
    return int(total), [_trade(r) for r in rows]


def _trade(r: tuple[Any, ...]) -> Trade:
    return Trade(
        account_id=r[0],
        identifier=int(r[1]),
        symbol=r[2],
        side=r[3],
        volume=float(r[4]),
        magic=int(r[5]),
        comment=r[6],
        opened_msc=int(r[7]),
        closed_msc=int(r[8]),
        price_open=float(r[9]),
        close_price=float(r[10]),
        sl_open=float(r[11]),
        profit=float(r[12]),
        commission=float(r[13]),
        swap=float(r[14]),
        fee=float(r[15]),
        reason=r[16],
    )


def trade_doc(t: Trade) -> dict[str, Any]:
    """A trade as the API and the exports show it."""
    return {
        "identifier": t.identifier,
        "symbol": t.symbol,
        "side": t.side,
        "volume": t.volume,
        "strategy": t.strategy,
        "magic": t.magic,
        "signal": t.comment,
        "opened_at": analytics.iso_msc(t.opened_msc),
        "closed_at": analytics.iso_msc(t.closed_msc),
        "duration_s": t.duration_s,
        "price_open": t.price_open,
        "close_price": t.close_price,
        "sl_open": t.sl_open,
        "r_multiple": None if t.r_multiple is None else round(t.r_multiple, 4),
        "gross_profit": round(t.gross, 2),
        "commission": t.commission,
        "swap": t.swap,
        "fee": t.fee,
        "net_profit": t.profit,
        "reason": t.reason,
    }


def bars_in(
    db: Database, account_id: str, start: datetime | None, end: datetime | None
) -> tuple[list[Bar], list[Bar]]:
    """Equity and balance minute bars of the account in [start, end)."""
    clauses, params = ["account_id = ?"], [account_id]
    if start is not None:
        clauses.append("minute >= ?")
        params.append(_minute(start))
    if end is not None:
        clauses.append("minute < ?")
        params.append(_minute(end))
    rows = db.query(
        "SELECT minute, equity_open, equity_high, equity_low, equity_close, balance_open,"
        " balance_high, balance_low, balance_close FROM proj_equity WHERE "
        + " AND ".join(clauses)
        + " ORDER BY minute",
        params,
    )
    equity = [Bar(m, eo, eh, el, ec) for m, eo, eh, el, ec, *_ in rows]
    balance = [Bar(m, bo, bh, bl, bc) for m, *_, bo, bh, bl, bc in rows]
    return equity, balance


def analytics_report(
    db: Database, account_id: str, start: datetime | None, end: datetime | None
) -> dict[str, Any]:
    """Every statistic of the account over [start, end) (None: open ended), from the per-day
    summaries (`analytics_days`): the same as `analytics.report` of every trade and minute."""
    body = analytics_days.report(db, account_id, start, end)
    return {
        "account_id": account_id,
        "from": None if start is None else start.astimezone(UTC).isoformat(),
        "to": None if end is None else end.astimezone(UTC).isoformat(),
        **body,
    }


def analytics_query(db: Database, q: AnalyticsQuery) -> dict[str, Any]:
    """`mtq.query.analytics`: UnknownAccount, or ValueError for a bad time or range."""
    start = None if q.since is None else parse_time(q.since)
    end = None if q.until is None else parse_time(q.until)
    if start is not None and end is not None and start > end:
        raise ValueError(f"since {q.since} is after until {q.until}")
    require_account(db, q.account)
    return analytics_report(db, q.account, start, end)
