"""Read endpoints: accounts, positions, reconciliation, risk, equity, timeline, alerts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal

import msgspec
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response

from bus.schemas.query import RiskEvent
from mtq.http.auth import reader
from mtq.http.cursor import BadCursor, decode_cursor, encode_cursor
from mtq.http.models import (
    AccountsPage,
    AccountStatus,
    AlertsPage,
    EquitySeries,
    ErrorBody,
    HealthState,
    PositionsPage,
    ReconciliationPage,
    RiskView,
    TimelinePage,
    TradingStateName,
)
from mtq.http.reads import accounts_page, page_json
from mtq.http.state import ApiState
from projections import history, queries
from projections.queries import UnknownAccount

ERRORS: Final[dict[int | str, dict[str, Any]]] = {
    code: {"model": ErrorBody} for code in (401, 403, 404, 422)
}
router = APIRouter(dependencies=[Depends(reader)], responses=ERRORS)

AccountPath = Annotated[
    str,
    Path(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="account id", examples=["ftmo-001"]),
]
Limit = Annotated[int, Query(ge=1, le=1000, description="most items on one page")]
Cursor = Annotated[str | None, Query(max_length=2000, description="`next_cursor` of a page")]
From = Annotated[datetime | None, Query(alias="from", description="ISO-8601 time, UTC if naive")]
To = Annotated[datetime | None, Query(alias="to", description="ISO-8601 time, UTC if naive")]
ReconStatus = Literal[
    "matched",
    "slipped",
    "partial",
    "rejected",
    "expired",
    "not_executed",
    "manual",
    "closed_by_broker",
    "pending",
    "closed",
    "unknown",
]
AlertKind = Literal[
    "DrawdownWarning",
    "DrawdownBreached",
    "LiquidationPending",
    "LiquidationOrdered",
    "TradingStateChanged",
    "AgentUnhealthy",
]


def state(request: Request) -> ApiState:
    found: ApiState = request.app.state.api
    return found


State = Annotated[ApiState, Depends(state)]


def _json(body: bytes) -> Response:
    return Response(content=body, media_type="application/json")


def _cursor(text: str | None, arity: int) -> list[Any] | None:
    try:
        return decode_cursor(text, arity)
    except BadCursor as exc:
        raise HTTPException(422, f"query.cursor: {exc}") from None


def _utc(value: datetime | None) -> str | None:
    if value is None:
        return None
    at = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return at.isoformat()


def _known(api: ApiState, account_id: str) -> None:
    try:
        api.reads.require(account_id)
    except UnknownAccount:
        raise HTTPException(404, f"unknown account {account_id!r} (no events projected)") from None


@router.get("/accounts", response_model=AccountsPage, tags=["read models"])
async def list_accounts(
    *,
    api: State,
    health: Annotated[list[HealthState], Query(description="only these health states")] = [],  # noqa: B006
    trading_state: Annotated[list[TradingStateName], Query(description="only these states")] = [],  # noqa: B006
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Response:
    """Status of every account (health, money, drawdown, trading state), by account id."""
    after = _cursor(cursor, 1)
    items, last = accounts_page(
        api.reads.snapshot,
        health=health,
        trading=trading_state,
        after=None if after is None else str(after[0]),
        limit=limit,
    )
    return _json(page_json(items, None if last is None else encode_cursor([last])))


@router.get("/accounts/{account_id}", response_model=AccountStatus, tags=["read models"])
async def get_account(api: State, account_id: AccountPath) -> Response:
    """One account's status."""
    try:
        return _json(api.reads.status(account_id))
    except UnknownAccount:
        raise HTTPException(404, f"unknown account {account_id!r} (no events projected)") from None


@router.get("/accounts/{account_id}/positions", response_model=PositionsPage, tags=["read models"])
async def get_positions(
    *,
    api: State,
    account_id: AccountPath,
    state: Literal["open", "closed"] = "open",
    symbol: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_.-]{1,32}$")] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """Open positions (newest first), or closed ones with `?state=closed`."""
    _known(api, account_id)
    after = _cursor(cursor, 2)
    items, key = await api.reads.run(
        lambda db: queries.positions_page(
            db, account=account_id, state=state, symbol=symbol, after=after, limit=limit
        )
    )
    return {"items": items, "next_cursor": None if key is None else encode_cursor(key)}


async def _recon(
    api: ApiState,
    *,
    account_id: str | None,
    status: list[str],
    live: bool | None,
    limit: int,
    cursor: str | None,
) -> dict[str, Any]:
    after = _cursor(cursor, 3)
    now = datetime.now(UTC)
    items, key = await api.reads.run(
        lambda db: queries.reconciliation_page(
            db,
            api.settings.accounts,
            now,
            account=account_id,
            statuses=status,
            live=live,
            after=after,
            limit=limit,
        )
    )
    return {
        "items": items,
        "counts": queries.status_counts(items),
        "next_cursor": None if key is None else encode_cursor(key),
    }


StatusFilter = Annotated[list[ReconStatus], Query(description="only items with these statuses")]
LiveFilter = Annotated[bool | None, Query(description="true: items that can still change")]


@router.get(
    "/accounts/{account_id}/reconciliation",
    response_model=ReconciliationPage,
    tags=["read models"],
)
async def get_account_reconciliation(
    *,
    api: State,
    account_id: AccountPath,
    status: StatusFilter = [],  # noqa: B006
    live: LiveFilter = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """Intended trades against broker positions, one item per pair or single."""
    _known(api, account_id)
    return await _recon(
        api, account_id=account_id, status=list(status), live=live, limit=limit, cursor=cursor
    )


@router.get("/reconciliation", response_model=ReconciliationPage, tags=["read models"])
async def get_reconciliation(
    *,
    api: State,
    status: StatusFilter = [],  # noqa: B006
    live: LiveFilter = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """Reconciliation across every account."""
    return await _recon(
        api, account_id=None, status=list(status), live=live, limit=limit, cursor=cursor
    )


@router.get("/accounts/{account_id}/risk", response_model=RiskView, tags=["read models"])
async def get_risk(api: State, account_id: AccountPath) -> dict[str, Any]:
    """Limits in force, day anchor, floors, rule state and the latest decisions."""

    def read(db: Any) -> tuple[list[dict[str, Any]], list[RiskEvent]]:
        return queries.risk_docs(db, account_id), queries.decisions(db, account_id)

    docs, recent = await api.reads.run(read)
    if not docs:
        raise HTTPException(404, f"unknown account {account_id!r} (no decisions projected)")
    return {"account_id": account_id, "risk": docs[0], "recent": msgspec.to_builtins(recent)}


@router.get("/accounts/{account_id}/equity", response_model=EquitySeries, tags=["read models"])
async def get_equity(
    *,
    api: State,
    account_id: AccountPath,
    since: From = None,
    until: To = None,
    resolution: Literal["1m", "5m", "15m", "1h", "4h", "1d"] = "1m",
    limit: Annotated[int, Query(ge=1, le=5000)] = 1440,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """Equity and balance bars (open, high, low, close) and the floors over time."""
    _known(api, account_id)
    after = _cursor(cursor, 1)
    start, end = _utc(since), _utc(until)

    def read(db: Any) -> tuple[Any, Any, Any]:
        bars, key = history.equity_bars(
            db, account_id, since=start, until=end, resolution=resolution, after=after, limit=limit
        )
        return bars, key, history.floors(db, account_id)

    bars, key, floors = await api.reads.run(read)
    limits = api.reads.snapshot.docs.get(account_id, {}).get("limits") or {}
    current = {rule: (limits.get(rule) or {}).get("floor") for rule in ("daily", "max")}
    return {
        "account_id": account_id,
        "resolution": resolution,
        "items": bars,
        "floors": floors,
        "current_floors": current,
        "next_cursor": None if key is None else encode_cursor(key),
    }


@router.get("/accounts/{account_id}/events", response_model=TimelinePage, tags=["read models"])
async def get_events(
    *,
    api: State,
    account_id: AccountPath,
    since: From = None,
    until: To = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """The audit timeline: decisions and position facts in time order."""
    _known(api, account_id)
    after = _cursor(cursor, 2)
    start, end = _utc(since), _utc(until)
    items, key = await api.reads.run(
        lambda db: history.timeline(
            db, account_id, since=start, until=end, after=after, limit=limit
        )
    )
    return {
        "account_id": account_id,
        "items": items,
        "next_cursor": None if key is None else encode_cursor(key),
    }


@router.get("/alerts", response_model=AlertsPage, tags=["alerts"])
async def get_alerts(
    *,
    api: State,
    account: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_-]{1,64}$")] = None,
    kind: Annotated[list[AlertKind], Query(description="only these kinds")] = [],  # noqa: B006
    limit: Limit = 100,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """Alerts raised, newest first, each with its webhook deliveries (status, attempts)."""
    after = _cursor(cursor, 1)
    before = int(after[0]) if after is not None and isinstance(after[0], int) else None
    items, last = api.store.page(account_id=account, kinds=tuple(kind), before=before, limit=limit)
    return {"items": items, "next_cursor": None if last is None else encode_cursor([last])}
