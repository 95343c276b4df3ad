"""Read the views: the one module that queries status, positions, reconciliation, risk and
equity, for `mtq-query`, the HTTP API, `mtq status` and `mtq replay --at`.

Stored rows are a pure function of the log; `now` adds what only the clock knows (an agent
whose heartbeats stopped is UNHEALTHY, and its reconciliation items `unknown`). Paged reads
take the sort key of the last item returned before (`after`) and answer `(items, next_key)`:
`next_key` is None on the last page. Times are compared as the ISO strings the views store
(UTC, `+00:00`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from bus.schemas.query import (
    EquityMinute,
    EquityQuery,
    Ohlc,
    PositionsQuery,
    ReconciliationQuery,
    RiskEvent,
    RiskQuery,
    StatusQuery,
)
from config.models import HEARTBEAT_TIMEOUT_S
from projections.db import Database
from projections.reconciliation import overlay_stale
from projections.settings import AccountSettings
from projections.status import is_stale, overlay_now
from projections.views import loads

Key = list[Any]
PositionState = Literal["open", "closed", "all"]
_RECON_CHUNK = 500


class UnknownAccount(LookupError):
    """The account has no rows in the views."""

    def __str__(self) -> str:
        return f"unknown account {self.args[0]!r} (no events projected)"


def heartbeat_timeout(settings: Mapping[str, AccountSettings], account_id: str) -> float:
    found = settings.get(account_id)
    return HEARTBEAT_TIMEOUT_S if found is None else found.heartbeat_timeout_s


# --- status ----------------------------------------------------------------------------


def tracking(db: Database) -> dict[str, int]:
    """The projector's tracked position per source (`MT5`, `RISK`): it moves on each commit."""
    return {
        source: int(pos) for source, pos in db.query("SELECT source, position FROM proj_tracking")
    }


def status_docs(db: Database, account: str | None = None) -> dict[str, dict[str, Any]]:
    """Stored status docs by account id (sorted), without the clock's overlay."""
    where, params = (" WHERE account_id = ?", [account]) if account else ("", [])
    rows = db.query(f"SELECT account_id, doc FROM proj_status{where} ORDER BY account_id", params)
    return {a: loads(doc) for a, doc in rows}


def render_status(
    account_id: str,
    doc: dict[str, Any],
    now: datetime,
    settings: Mapping[str, AccountSettings],
) -> dict[str, Any]:
    """A stored status doc as of `now` (a silent agent turns UNHEALTHY)."""
    return overlay_now(doc, now, heartbeat_timeout(settings, account_id))


def status(
    db: Database,
    q: StatusQuery,
    settings: Mapping[str, AccountSettings],
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """Status docs, as of `now` (default: the clock); UnknownAccount for an unknown id."""
    docs = status_docs(db, q.account)
    if q.account and not docs:
        raise UnknownAccount(q.account)
    moment = now or datetime.now(UTC)
    return [render_status(a, doc, moment, settings) for a, doc in docs.items()]


def projector_info(db: Database) -> dict[str, Any]:
    """Positions reached and what could not be applied outside any known account."""
    reached = tracking(db)
    info: dict[str, Any] = {"mt5_seq": reached.get("MT5", 0), "risk_seq": reached.get("RISK", 0)}
    for (doc,) in db.query("SELECT doc FROM proj_meta WHERE name = 'projector'"):
        info.update(loads(doc))
    return info


# --- positions -------------------------------------------------------------------------


def positions_page(
    db: Database,
    *,
    account: str | None,
    state: PositionState,
    symbol: str | None,
    after: Key | None,
    limit: int,
) -> tuple[list[dict[str, Any]], Key | None]:
    """Newest first: closed ones by close time, the others by open time."""
    column = "closed_msc" if state == "closed" else "opened_msc"
    clauses: list[str] = []
    params: list[Any] = []
    if account:
        clauses.append("account_id = ?")
        params.append(account)
    if state != "all":
        clauses.append("state = ?")
        params.append(state)
    if symbol:
        clauses.append("UPPER(symbol) = ?")
        params.append(symbol.upper())
    if after is not None:
        clauses.append(f"({column} < ? OR ({column} = ? AND identifier > ?))")
        params.extend([after[0], after[0], after[1]])
    where = " WHERE " + " AND ".join(clauses) if clauses else ""
    rows = db.query(
        f"SELECT {column}, identifier, doc FROM proj_positions{where}"
        f" ORDER BY {column} DESC, identifier LIMIT {int(limit) + 1}",
        params,
    )
    items = [loads(doc) for _, _, doc in rows[:limit]]
    more = len(rows) > limit
    return items, [rows[limit - 1][0], rows[limit - 1][1]] if more else None


def positions(db: Database, q: PositionsQuery) -> list[dict[str, Any]]:
    items, _ = positions_page(
        db, account=q.account, state=q.state, symbol=q.symbol, after=None, limit=q.limit
    )
    return items


# --- reconciliation --------------------------------------------------------------------


def stale_accounts(
    db: Database, settings: Mapping[str, AccountSettings], now: datetime
) -> set[str]:
    """Accounts whose agent's heartbeats stopped, as of `now`."""
    return {
        account_id
        for account_id, doc in status_docs(db).items()
        if is_stale(doc, now, heartbeat_timeout(settings, account_id))
    }


def reconciliation_page(
    db: Database,
    settings: Mapping[str, AccountSettings],
    now: datetime,
    *,
    account: str | None,
    statuses: Sequence[str],
    live: bool | None,
    after: Key | None,
    limit: int,
) -> tuple[list[dict[str, Any]], Key | None]:
    """Items by account, then since, then item id; a stale agent's items show `unknown`."""
    clauses: list[str] = []
    params: list[Any] = []
    if account:
        clauses.append("account_id = ?")
        params.append(account)
    if live is not None:
        clauses.append("live = ?")
        params.append(1 if live else 0)
    if after is not None:
        clauses.append(
            "(account_id > ? OR (account_id = ? AND (since > ? OR (since = ? AND item_id > ?))))"
        )
        params.extend([after[0], after[0], after[1], after[1], after[2]])
    where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
    stale = stale_accounts(db, settings, now)
    items: list[dict[str, Any]] = []
    last: Key | None = None
    offset = 0
    while True:
        rows = db.query(
            f"SELECT account_id, since, item_id, doc FROM proj_reconciliation{where}"
            f" ORDER BY account_id, since, item_id LIMIT {_RECON_CHUNK} OFFSET {offset}",
            params,
        )
        for account_id, since, item_id, doc in rows:
            item = overlay_stale(loads(doc), account_id in stale) | {"account_id": account_id}
            if statuses and item["status"] not in statuses:
                continue
            if len(items) == limit:
                return items, last
            items.append(item)
            last = [account_id, since, item_id]
        if len(rows) < _RECON_CHUNK:
            return items, None
        offset += _RECON_CHUNK


def reconciliation(
    db: Database,
    q: ReconciliationQuery,
    settings: Mapping[str, AccountSettings],
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    items, _ = reconciliation_page(
        db,
        settings,
        now or datetime.now(UTC),
        account=q.account,
        statuses=q.status,
        live=q.live,
        after=None,
        limit=q.limit,
    )
    if not q.history:
        for item in items:
            item.pop("history", None)
    return items


def status_counts(items: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Reconciliation items per status."""
    counts: dict[str, int] = {}
    for item in items:
        counts[item["status"]] = counts.get(item["status"], 0) + 1
    return counts


# --- risk ------------------------------------------------------------------------------


def risk_docs(db: Database, account: str | None = None) -> list[dict[str, Any]]:
    where, params = (" WHERE account_id = ?", [account]) if account else ("", [])
    rows = db.query(f"SELECT doc FROM proj_risk{where} ORDER BY account_id", params)
    return [loads(doc) for (doc,) in rows]


def decisions(
    db: Database,
    account: str | None,
    *,
    kinds: Sequence[str] = (),
    since: str | None = None,
    newest: int = 20,
) -> list[RiskEvent]:
    """The latest `newest` kept decisions (of one account or all), oldest first."""
    clauses: list[str] = []
    params: list[Any] = []
    if account:
        clauses.append("account_id = ?")
        params.append(account)
    if kinds:
        clauses.append("kind IN (" + ", ".join("?" for _ in kinds) + ")")
        params.extend(kinds)
    if since:
        clauses.append("time >= ?")
        params.append(since)
    where = " WHERE " + " AND ".join(clauses) if clauses else ""
    rows = db.query(
        "SELECT account_id, notification_id, kind, time, doc FROM proj_risk_events"
        f"{where} ORDER BY notification_id DESC LIMIT {int(newest)}",
        params,
    )
    return [
        RiskEvent(account_id=a, notification_id=int(n), type=k, time=t, decision=loads(d))
        for a, n, k, t, d in reversed(rows)
    ]


def risk(db: Database, q: RiskQuery) -> tuple[list[dict[str, Any]], list[RiskEvent]]:
    accounts = risk_docs(db, q.account)
    if q.account and not accounts:
        raise UnknownAccount(q.account)
    since = _iso(q.since) if q.since else None
    return accounts, decisions(db, q.account, kinds=q.kinds, since=since, newest=q.limit)


# --- equity ----------------------------------------------------------------------------


def equity_minutes(
    db: Database,
    account: str,
    *,
    since: str | None,
    until: str | None,
    after: str | None = None,
    newest: bool,
    limit: int,
) -> list[EquityMinute]:
    """Minute bars in `[since, until]` (ISO times) after minute `after`, oldest first: the
    latest `limit` of them if `newest`, else the first."""
    clauses, params = ["account_id = ?"], [account]
    if since:
        clauses.append("minute >= ?")
        params.append(since[:16])
    if until:
        clauses.append("minute <= ?")
        params.append(until[:16])
    if after is not None:
        clauses.append("minute > ?")
        params.append(after)
    rows = db.query(
        "SELECT minute, equity_open, equity_high, equity_low, equity_close, balance_open,"
        " balance_high, balance_low, balance_close, samples FROM proj_equity WHERE "
        + " AND ".join(clauses)
        + f" ORDER BY minute {'DESC' if newest else 'ASC'} LIMIT {int(limit)}",
        params,
    )
    bars = [
        EquityMinute(
            minute=str(m),
            equity=Ohlc(open=eo, high=eh, low=el, close=ec),
            balance=Ohlc(open=bo, high=bh, low=bl, close=bc),
            samples=n,
        )
        for m, eo, eh, el, ec, bo, bh, bl, bc, n in rows
    ]
    return bars[::-1] if newest else bars


def equity(db: Database, q: EquityQuery) -> list[EquityMinute]:
    since = _iso(q.since) if q.since else None
    until = _iso(q.until) if q.until else None
    return equity_minutes(db, q.account, since=since, until=until, newest=True, limit=q.limit)


def parse_time(text: str) -> datetime:
    """An ISO-8601 time; naive ones are UTC. ValueError when it is not a time."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _iso(text: str) -> str:
    return parse_time(text).isoformat()
