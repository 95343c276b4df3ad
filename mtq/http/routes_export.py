"""`GET /accounts/{id}/export`: trades, equity, decisions or facts as CSV or Parquet, streamed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import StreamingResponse

from mtq.http.auth import reader
from mtq.http.routes_analytics import unknown, utc_range
from mtq.http.routes_reads import ERRORS, AccountPath, From, State, To
from projections import analytics_reads, exports
from projections.export_formats import MEDIA_TYPES, Format, encoded
from projections.exports import Kind, Row, Span
from projections.queries import UnknownAccount

router = APIRouter(dependencies=[Depends(reader)], responses=ERRORS)

KIND_HELP = (
    "trades (closed in the range), equity (minutes), decisions (RISK, by timestamp) or facts"
    " (MT5, by the projector's time)"
)


@router.get(
    "/accounts/{account_id}/export",
    tags=["analytics"],
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {media: {"schema": {"type": "string"}} for media in MEDIA_TYPES.values()},
            "description": "the rows as CSV (header line) or Parquet (a row group per batch)",
        },
        503: {"description": "decisions and facts need the API's NATS connection"},
    },
)
async def export(
    *,
    api: State,
    account_id: AccountPath,
    kind: Annotated[Kind, Query(description=KIND_HELP)] = "trades",
    format: Annotated[Format, Query(description="csv or parquet")] = "csv",
    from_: From = None,
    to: To = None,
) -> StreamingResponse:
    """The account's rows in `[from, to)`, streamed batch by batch (never the whole range in
    memory). Columns and time rules: projections/README.md, "Exports"."""
    start, end = utc_range(from_, to)
    span = Span(account_id, start, end)
    try:
        await api.reads.run(lambda db: analytics_reads.require_account(db, account_id))
    except UnknownAccount:
        raise unknown(account_id) from None
    batches: AsyncIterator[list[Row]]
    if kind in {"trades", "equity"}:
        batches = exports.view_batches(api.reads.run, kind, span)
    else:
        if api.nc is None:
            raise HTTPException(503, f"{kind} are read from NATS, and the API is not connected")
        batches = exports.log_batches(api.nc.jetstream(), kind, span)
    name = f"{account_id}-{kind}.{format}"
    headers: dict[str, Any] = {"Content-Disposition": f'attachment; filename="{name}"'}
    return StreamingResponse(
        encoded(batches, kind, format), media_type=MEDIA_TYPES[format], headers=headers
    )
