"""Read the views: what `mtq-query`, `mtq status` and `mtq replay --at` answer with.

Stored rows are a pure function of the log; `now` adds what only the clock knows (an agent
whose heartbeats stopped is UNHEALTHY, and its reconciliation items `unknown`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from bus.schemas.query import (
    EquityQuery,
    PositionsQuery,
    ReconciliationQuery,
    RiskQuery,
    StatusQuery,
)
from config.models import HEARTBEAT_TIMEOUT_S
from projections.db import Database
from projections.reconciliation import overlay_stale
from projections.settings import AccountSettings
from projections.status import is_stale, overlay_now
from projections.views import loads


class UnknownAccount(LookupError):
    """The account has no rows in the views."""

    def __str__(self) -> str:
        return f"unknown account {self.args[0]!r} (no events projected)"


def _where(account: str | None, column: str = "account_id") -> tuple[str, list[Any]]:
    return (f" WHERE {column} = ?", [account]) if account else ("", [])


def _timeout(settings: Mapping[str, AccountSettings], account_id: str) -> float:
    found = settings.get(account_id)
    return HEARTBEAT_TIMEOUT_S if found is None else found.heartbeat_timeout_s


def status(
    db: Database,
    q: StatusQuery,
    settings: Mapping[str, AccountSettings],
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """Status docs, as of `now` (default: the clock); UnknownAccount for an unknown id."""
    where, params = _where(q.account)
    rows = db.query(f"SELECT account_id, doc FROM proj_status{where} ORDER BY account_id", params)
    if q.account and not rows:
        raise UnknownAccount(q.account)
    moment = now or datetime.now(UTC)
    return [overlay_now(loads(doc), moment, _timeout(settings, a)) for a, doc in rows]


def projector_info(db: Database) -> dict[str, Any]:
    """Positions reached and what could not be applied outside any known account."""
    info: dict[str, Any] = {"mt5_seq": 0, "risk_seq": 0}
    for source, position in db.query("SELECT source, position FROM proj_tracking"):
        info["mt5_seq" if source == "MT5" else "risk_seq"] = int(position)
    for (doc,) in db.query("SELECT doc FROM proj_meta WHERE name = 'projector'"):
        info.update(loads(doc))
    return info


def positions(db: Database, q: PositionsQuery) -> list[dict[str, Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if q.account:
        clauses.append("account_id = ?")
        params.append(q.account)
    if q.state != "all":
        clauses.append("state = ?")
        params.append(q.state)
    if q.symbol:
        clauses.append("UPPER(symbol) = ?")
        params.append(q.symbol.upper())
    where = " WHERE " + " AND ".join(clauses) if clauses else ""
    order = "closed_msc DESC" if q.state == "closed" else "opened_msc DESC"
    rows = db.query(
        f"SELECT doc FROM proj_positions{where} ORDER BY {order}, identifier LIMIT {int(q.limit)}",
        params,
    )
    return [loads(doc) for (doc,) in rows]


def reconciliation(
    db: Database,
    q: ReconciliationQuery,
    settings: Mapping[str, AccountSettings],
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if q.account:
        clauses.append("account_id = ?")
        params.append(q.account)
    if q.live is not None:
        clauses.append("live = ?")
        params.append(1 if q.live else 0)
    where = " WHERE " + " AND ".join(clauses) if clauses else ""
    rows = db.query(
        f"SELECT account_id, doc FROM proj_reconciliation{where}"
        " ORDER BY account_id, since, item_id",
        params,
    )
    stale = _stale_accounts(db, settings, now)
    items = []
    for account_id, doc in rows:
        item = overlay_stale(loads(doc), account_id in stale) | {"account_id": account_id}
        if q.status and item["status"] not in q.status:
            continue
        if not q.history:
            item.pop("history", None)
        items.append(item)
        if len(items) >= q.limit:
            break
    return items


def _stale_accounts(
    db: Database, settings: Mapping[str, AccountSettings], now: datetime | None
) -> set[str]:
    moment = now or datetime.now(UTC)
    found = set()
    for account_id, doc in db.query("SELECT account_id, doc FROM proj_status"):
        if is_stale(loads(doc), moment, _timeout(settings, account_id)):
            found.add(account_id)
    return found


def risk(db: Database, q: RiskQuery) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    where, params = _where(q.account)
    accounts = [
        loads(doc)
        for (doc,) in db.query(f"SELECT doc FROM proj_risk{where} ORDER BY account_id", params)
    ]
    if q.account and not accounts:
        raise UnknownAccount(q.account)
    clauses, event_params = (["account_id = ?"], [q.account]) if q.account else ([], [])
    if q.kinds:
        clauses.append("kind IN (" + ", ".join("?" for _ in q.kinds) + ")")
        event_params.extend(q.kinds)
    if q.since:
        clauses.append("time >= ?")
        event_params.append(_iso(q.since))
    where = " WHERE " + " AND ".join(clauses) if clauses else ""
    rows = db.query(
        f"SELECT account_id, notification_id, kind, time, doc FROM proj_risk_events"
        f"{where} ORDER BY notification_id DESC LIMIT {int(q.limit)}",
        event_params,
    )
    events = [
        {"account_id": a, "notification_id": int(n), "type": k, "time": t, "decision": loads(d)}
        for a, n, k, t, d in rows
    ]
    return accounts, events[::-1]


def equity(db: Database, q: EquityQuery) -> list[dict[str, Any]]:
    clauses, params = ["account_id = ?"], [q.account]
    if q.since:
        clauses.append("minute >= ?")
        params.append(_iso(q.since)[:16])
    if q.until:
        clauses.append("minute <= ?")
        params.append(_iso(q.until)[:16])
    rows = db.query(
        "SELECT minute, equity_open, equity_high, equity_low, equity_close, balance_open,"
        " balance_high, balance_low, balance_close, samples FROM proj_equity WHERE "
        + " AND ".join(clauses)
        + f" ORDER BY minute DESC LIMIT {int(q.limit)}",
        params,
    )
    bars = [
        {
            "minute": m,
            "equity": _ohlc(eo, eh, el, ec),
            "balance": _ohlc(bo, bh, bl, bc),
            "samples": n,
        }
        for m, eo, eh, el, ec, bo, bh, bl, bc, n in rows
    ]
    return bars[::-1]


def _ohlc(o: float, h: float, low: float, c: float) -> dict[str, float]:
    return {"open": o, "high": h, "low": low, "close": c}


def parse_time(text: str) -> datetime:
    """An ISO-8601 time; naive ones are UTC. ValueError when it is not a time."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _iso(text: str) -> str:
    return parse_time(text).isoformat()
