"""Analytics endpoints: an account's statistics over a range, and its trades page by page."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query

from mtq.http.auth import reader
from mtq.http.models_analytics import AnalyticsReport, TradeRow, TradesPage
from mtq.http.routes_reads import ERRORS, AccountPath, From, State, To
from projections import analytics_reads
from projections.analytics_reads import SortKey
from projections.db import Database
from projections.queries import UnknownAccount

router = APIRouter(dependencies=[Depends(reader)], responses=ERRORS)


Range = tuple[datetime | None, datetime | None]


def utc_range(start: datetime | None, end: datetime | None) -> Range:
    """`from` and `to` in UTC (naive ones are UTC); 422 when `from` is after `to`."""
    first, last = _utc(start), _utc(end)
    if first is not None and last is not None and first > last:
        raise HTTPException(422, "query.from: after query.to")
    return first, last


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def unknown(account_id: str) -> HTTPException:
    return HTTPException(404, f"unknown account {account_id!r} (no events projected)")


@router.get("/accounts/{account_id}/analytics", response_model=AnalyticsReport, tags=["analytics"])
async def get_analytics(
    *, api: State, account_id: AccountPath, from_: From = None, to: To = None
) -> dict[str, Any]:
    """Statistics of the trades closed in `[from, to)` and of the equity in it (see
    projections/README.md, "Analytics", for every definition)."""
    start, end = utc_range(from_, to)

    def read(db: Database) -> dict[str, Any]:
        analytics_reads.require_account(db, account_id)
        return analytics_reads.analytics_report(db, account_id, start, end)

    try:
        return await api.reads.run(read)
    except UnknownAccount:
        raise unknown(account_id) from None


@router.get("/accounts/{account_id}/trades", response_model=TradesPage, tags=["analytics"])
async def get_trades(
    *,
    api: State,
    account_id: AccountPath,
    from_: From = None,
    to: To = None,
    sort: SortKey = "closed_at",
    descending: Annotated[bool, Query(description="largest (or latest) first")] = True,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Closed trades in `[from, to)` (by close time), sorted and paged."""
    start, end = utc_range(from_, to)

    def read(db: Database) -> tuple[int, list[Any]]:
        analytics_reads.require_account(db, account_id)
        return analytics_reads.trades_page(
            db,
            account_id,
            start,
            end,
            sort=sort,
            descending=descending,
            offset=offset,
            limit=limit,
        )

    try:
        total, found = await api.reads.run(read)
    except UnknownAccount:
        raise unknown(account_id) from None
    items = [TradeRow.model_validate(analytics_reads.trade_doc(t)) for t in found]
    return {"account_id": account_id, "total": total, "offset": offset, "items": items}
