"""Keyset-paginated reads of the views for the HTTP API (plain SQL on `projections.db`).

Every function takes the database, the filters and the decoded cursor (the sort key of the
last item returned before) and answers `(items, next_key)`: `next_key` is None on the last
page. Times are compared as the ISO strings the views store (UTC, `+00:00`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from config.models import HEARTBEAT_TIMEOUT_S
from projections.db import Database
from projections.reconciliation import overlay_stale
from projections.settings import AccountSettings
from projections.status import is_stale
from projections.views import loads

FLOOR_EVENTS: Final = ("TradingDayStarted", "PeakEquityRaised", "EndOfDayBalanceRecorded")
RESOLUTIONS: Final = {"1m": 1, "5m": 5, "15m": 15, "1h": 60, "4h": 240, "1d": 1440}
Key = list[Any]


def positions(
    db: Database,
    account_id: str,
    *,
    state: str,
    symbol: str | None,
    after: Key | None,
    limit: int,
) -> tuple[list[dict[str, Any]], Key | None]:
    """Newest first: open ones by open time, closed ones by close time."""
    column = "closed_msc" if state == "closed" else "opened_msc"
    clauses, params = ["account_id = ?", "state = ?"], [account_id, state]
    if symbol:
        clauses.append("UPPER(symbol) = ?")
        params.append(symbol.upper())
    if after is not None:
        clauses.append(f"({column} < ? OR ({column} = ? AND identifier > ?))")
        params.extend([after[0], after[0], after[1]])
    rows = db.query(
        f"SELECT {column}, identifier, doc FROM proj_positions WHERE {' AND '.join(clauses)}"
        f" ORDER BY {column} DESC, identifier LIMIT {int(limit) + 1}",
        params,
    )
    items = [loads(doc) for _, _, doc in rows[:limit]]
    more = len(rows) > limit
    return items, [rows[limit - 1][0], rows[limit - 1][1]] if more else None


def reconciliation(
    db: Database,
    settings: Mapping[str, AccountSettings],
    now: datetime,
    *,
    account_id: str | None,
    statuses: Sequence[str],
    live: bool | None,
    after: Key | None,
    limit: int,
) -> tuple[list[dict[str, Any]], Key | None]:
    """Items by account, then since, then item id; a stale agent's items show `unknown`."""
    clauses: list[str] = []
    params: list[Any] = []
    if account_id:
        clauses.append("account_id = ?")
        params.append(account_id)
    if live is not None:
        clauses.append("live = ?")
        params.append(1 if live else 0)
    if after is not None:
        clauses.append(
            "(account_id > ? OR (account_id = ? AND (since > ? OR (since = ? AND item_id > ?))))"
        )
        params.extend([after[0], after[0], after[1], after[1], after[2]])
    where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
    stale = _stale(db, settings, now)
    items: list[dict[str, Any]] = []
    last: Key | None = None
    offset = 0
    while True:
        rows = db.query(
            f"SELECT account_id, since, item_id, doc FROM proj_reconciliation{where}"
            f" ORDER BY account_id, since, item_id LIMIT 500 OFFSET {offset}",
            params,
        )
        for account, since, item_id, doc in rows:
            item = overlay_stale(loads(doc), account in stale) | {"account_id": account}
            if statuses and item["status"] not in statuses:
                continue
            if len(items) == limit:
                return items, last
            items.append(item)
            last = [account, since, item_id]
        if len(rows) < 500:
            return items, None
        offset += 500


def _stale(db: Database, settings: Mapping[str, AccountSettings], now: datetime) -> set[str]:
    found = set()
    for account_id, doc in db.query("SELECT account_id, doc FROM proj_status"):
        s = settings.get(account_id)
        if is_stale(loads(doc), now, HEARTBEAT_TIMEOUT_S if s is None else s.heartbeat_timeout_s):
            found.add(account_id)
    return found


def risk_doc(db: Database, account_id: str) -> dict[str, Any] | None:
    rows = db.query("SELECT doc FROM proj_risk WHERE account_id = ?", [account_id])
    return loads(rows[0][0]) if rows else None


def decisions(
    db: Database, account_id: str, *, kinds: Sequence[str] = (), newest: int = 20
) -> list[dict[str, Any]]:
    """The latest kept decisions of an account, oldest first."""
    clauses, params = ["account_id = ?"], [account_id]
    if kinds:
        clauses.append("kind IN (" + ", ".join("?" for _ in kinds) + ")")
        params.extend(kinds)
    rows = db.query(
        "SELECT notification_id, kind, time, doc FROM proj_risk_events WHERE "
        + " AND ".join(clauses)
        + f" ORDER BY notification_id DESC LIMIT {int(newest)}",
        params,
    )
    return [
        {
            "account_id": account_id,
            "notification_id": int(n),
            "type": k,
            "time": t,
            "decision": loads(d),
        }
        for n, k, t, d in reversed(rows)
    ]


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
        summary = {
            k: doc.get(k)
            for k in (
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
        }
        entries.append(
            {
                "time": doc["opened_at"],
                "kind": "fact",
                "type": "PositionOpened",
                "key": f"p{int(identifier):012d}o",
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
                    "key": f"p{int(identifier):012d}c",
                    "data": summary | {"closed": closed, "profit": doc.get("profit")},
                }
            )
    return [
        e
        for e in entries
        if (not since or e["time"] >= since) and (not until or e["time"] <= until)
    ]


def equity(
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
    clauses, params = ["account_id = ?"], [account_id]
    if since:
        clauses.append("minute >= ?")
        params.append(since[:16])
    if until:
        clauses.append("minute <= ?")
        params.append(until[:16])
    if after is not None:
        clauses.append("minute > ?")
        params.append(after[0])
    newest_first = since is None and after is None
    order = "DESC" if newest_first else ""
    rows = db.query(
        "SELECT minute, equity_open, equity_high, equity_low, equity_close, balance_open,"
        " balance_high, balance_low, balance_close, samples FROM proj_equity WHERE "
        + " AND ".join(clauses)
        + f" ORDER BY minute {order} LIMIT {int(limit) * minutes + minutes}",
        params,
    )
    if newest_first:
        rows = rows[::-1]
    bars = _bucket(rows, minutes)
    if newest_first:
        return bars[-limit:], None
    page = bars[:limit]
    more = len(bars) > limit
    return page, [_last_minute(rows, page[-1]["time"], minutes)] if more else None


def _bucket(rows: list[tuple[Any, ...]], minutes: int) -> list[dict[str, Any]]:
    bars: list[dict[str, Any]] = []
    for minute, eo, eh, el, ec, bo, bh, bl, bc, n in rows:
        start = _floor_minute(str(minute), minutes)
        if bars and bars[-1]["time"] == start:
            bar = bars[-1]
            for key, (h, low, c) in (("equity", (eh, el, ec)), ("balance", (bh, bl, bc))):
                bar[key]["high"] = max(bar[key]["high"], h)
                bar[key]["low"] = min(bar[key]["low"], low)
                bar[key]["close"] = c
            bar["samples"] += n
            continue
        bars.append(
            {
                "time": start,
                "equity": {"open": eo, "high": eh, "low": el, "close": ec},
                "balance": {"open": bo, "high": bh, "low": bl, "close": bc},
                "samples": n,
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


def _last_minute(rows: list[tuple[Any, ...]], bar_start: str, minutes: int) -> str:
    inside = [str(r[0]) for r in rows if _floor_minute(str(r[0]), minutes) == bar_start]
    return max(inside)


def floors(db: Database, account_id: str) -> list[dict[str, Any]]:
    """When the daily and max floors changed (from the decisions that move them)."""
    found = []
    daily: float | None = None
    for entry in decisions(db, account_id, kinds=FLOOR_EVENTS, newest=2000):
        data = entry["decision"]
        if entry["type"] == "TradingDayStarted":
            daily = _num(data.get("daily_floor"))
        found.append(
            {
                "time": entry["time"],
                "type": entry["type"],
                "daily_floor": daily,
                "max_floor": _num(data.get("max_floor")),
            }
        )
    return found


def _num(value: Any) -> float | None:
    return None if value is None else float(value)
