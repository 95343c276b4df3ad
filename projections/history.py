"""What the HTTP API reads over time: the audit timeline, the floors as they moved, equity
bars of a resolution. Built on `projections.queries` (the one module querying the views)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from bus.schemas.query import EquityMinute
from projections.db import Database
from projections.queries import Key, decisions, equity_minutes
from projections.views import loads

FLOOR_EVENTS: Final = ("TradingDayStarted", "PeakEquityRaised", "EndOfDayBalanceRecorded")
RESOLUTIONS: Final = {"1m": 1, "5m": 5, "15m": 15, "1h": 60, "4h": 240, "1d": 1440}
_SUMMARY: Final = (
    "identifier",
    "ticket",
    "symbol",
    "side",
    "volume",
    "price_open",
    "sl",
    "tp",
    "magic",
    "reason",
)


def timeline(
    db: Database,
    account_id: str,
    *,
    since: str | None,
    until: str | None,
    after: Key | None,
    limit: int,
) -> tuple[list[dict[str, Any]], Key | None]:
    """Decisions and position facts (opened, closed) in time order, oldest first."""
    start = after[0] if after is not None else since
    entries = _decision_entries(db, account_id, start, until, limit)
    entries += _position_entries(db, account_id, start, until, limit)
    entries.sort(key=lambda e: (e["time"], e["key"]))
    if after is not None:
        entries = [e for e in entries if (e["time"], e["key"]) > (after[0], after[1])]
    page = entries[:limit]
    more = len(entries) > limit
    return page, [page[-1]["time"], page[-1]["key"]] if more else None


def _range(column: str, since: str | None, until: str | None) -> tuple[str, list[Any]]:
    sql, params = "", []
    if since:
        sql += f" AND {column} >= ?"
        params.append(since)
    if until:
        sql += f" AND {column} <= ?"
        params.append(until)
    return sql, params


def _decision_entries(
    db: Database, account_id: str, since: str | None, until: str | None, limit: int
) -> list[dict[str, Any]]:
    sql, params = _range("time", since, until)
    rows = db.query(
        "SELECT notification_id, kind, time, doc FROM proj_risk_events WHERE account_id = ?"
        f"{sql} ORDER BY time, notification_id LIMIT {int(limit) + 1}",
        [account_id, *params],
    )
    return [
        {
            "time": t,
            "kind": "decision",
            "type": k,
            "key": f"d{int(n):012d}",
            "data": loads(d) | {"notification_id": int(n)},
        }
        for n, k, t, d in rows
    ]


def _position_entries(
    db: Database, account_id: str, since: str | None, until: str | None, limit: int
) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    rows = db.query(
        "SELECT identifier, doc FROM proj_positions WHERE account_id = ?"
        f" ORDER BY opened_msc LIMIT {int(limit) * 4 + 100}",
        [account_id],
    )
    for identifier, text in rows:
        doc = loads(text)
        summary = {k: doc.get(k) for k in _SUMMARY}
        key = f"p{int(identifier):012d}"
        entries.append(
            {
                "time": doc["opened_at"],
                "kind": "fact",
                "type": "PositionOpened",
                "key": key + "o",
                "data": summary,
            }
        )
        closed = doc.get("closed")
        if closed:
            entries.append(
                {
                    "time": closed["time"],
                    "kind": "fact",
                    "type": "PositionClosed",
                    "key": key + "c",
                    "data": summary | {"closed": closed, "profit": doc.get("profit")},
                }
            )
    return [
        e
        for e in entries
        if (not since or e["time"] >= since) and (not until or e["time"] <= until)
    ]


def equity_bars(
    db: Database,
    account_id: str,
    *,
    since: str | None,
    until: str | None,
    resolution: str,
    after: Key | None,
    limit: int,
) -> tuple[list[dict[str, Any]], Key | None]:
    """Bars of `resolution` from the per-minute bars, oldest first."""
    minutes = RESOLUTIONS[resolution]
    newest = since is None and after is None
    rows = equity_minutes(
        db,
        account_id,
        since=since,
        until=until,
        after=None if after is None else str(after[0]),
        newest=newest,
        limit=int(limit) * minutes + minutes,
    )
    bars = _bucket(rows, minutes)
    if newest:
        return bars[-limit:], None
    page = bars[:limit]
    more = len(bars) > limit
    return page, [_last_minute(rows, page[-1]["time"], minutes)] if more else None


def _bucket(rows: list[EquityMinute], minutes: int) -> list[dict[str, Any]]:
    bars: list[dict[str, Any]] = []
    for row in rows:
        start = _floor_minute(row.minute, minutes)
        e, b = row.equity, row.balance
        if bars and bars[-1]["time"] == start:
            bar = bars[-1]
            for key, ohlc in (("equity", e), ("balance", b)):
                bar[key]["high"] = max(bar[key]["high"], ohlc.high)
                bar[key]["low"] = min(bar[key]["low"], ohlc.low)
                bar[key]["close"] = ohlc.close
            bar["samples"] += row.samples
            continue
        bars.append(
            {
                "time": start,
                "equity": {"open": e.open, "high": e.high, "low": e.low, "close": e.close},
                "balance": {"open": b.open, "high": b.high, "low": b.low, "close": b.close},
                "samples": row.samples,
            }
        )
    return bars


def _floor_minute(minute: str, minutes: int) -> str:
    if minutes == 1:
        return minute
    at = datetime.fromisoformat(minute)
    total = at.hour * 60 + at.minute
    if minutes >= 1440:
        return at.strftime("%Y-%m-%dT00:00")
    start = total - total % minutes
    return at.strftime("%Y-%m-%dT") + f"{start // 60:02d}:{start % 60:02d}"


def _last_minute(rows: list[EquityMinute], bar_start: str, minutes: int) -> str:
    return max(r.minute for r in rows if _floor_minute(r.minute, minutes) == bar_start)


def floors(db: Database, account_id: str) -> list[dict[str, Any]]:
    """When the daily and max floors changed (from the decisions that move them)."""
    found = []
    daily: float | None = None
    for entry in decisions(db, account_id, kinds=FLOOR_EVENTS, newest=2000):
        data = entry.decision
        if entry.type == "TradingDayStarted":
            daily = _num(data.get("daily_floor"))
        found.append(
            {
                "time": entry.time,
                "type": entry.type,
                "daily_floor": daily,
                "max_floor": _num(data.get("max_floor")),
            }
        )
    return found


def _num(value: Any) -> float | None:
    return None if value is None else float(value)
