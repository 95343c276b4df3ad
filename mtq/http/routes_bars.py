"""`GET /symbols/{symbol}/bars`: the candles view (projections/candles.py) of one symbol."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from pydantic import BaseModel, Field

from mtq.http.auth import reader
from mtq.http.routes_analytics import utc_range
from mtq.http.routes_reads import ERRORS, From, State, To
from projections import candles
from projections.candles import Timeframe
from projections.db import Database

router = APIRouter(dependencies=[Depends(reader)], responses=ERRORS)

SymbolPath = Annotated[
    str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="symbol", examples=["EURUSD"])
]


class Candle(BaseModel):
    time: str = Field(description="the bar's start, ISO-8601 UTC")
    open: float
    high: float
    low: float
    close: float
    spread: float = Field(description="the narrowest ask - bid of the bar, in price")
    tick_volume: int
    real_volume: float
    filled: bool = Field(description="from the terminal's rates (a gap), not from ticks")


class Bars(BaseModel):
    symbol: str
    tf: Timeframe
    account_id: str = Field(description="whose ticks made the bars")
    bars: list[Candle]


@router.get("/symbols/{symbol}/bars", response_model=Bars, tags=["market data"])
async def get_bars(
    *,
    api: State,
    symbol: SymbolPath,
    tf: Timeframe = "M1",
    account: Annotated[
        str | None,
        Query(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="whose ticks (default: the first)"),
    ] = None,
    from_: From = None,
    to: To = None,
    limit: Annotated[int, Query(ge=1, le=10_000, description="most bars (the latest)")] = 1000,
) -> dict[str, Any]:
    """Bid OHLC bars of `symbol` starting in `[from, to)`, oldest first: the latest `limit`
    of them. Without `account`, the first account (by id) with bars of the symbol."""
    start, end = utc_range(from_, to)

    def read(db: Database) -> tuple[str, list[candles.Candle]]:
        return candles.bars(db, symbol, tf, account_id=account, start=start, end=end, limit=limit)

    try:
        account_id, found = await api.reads.run(read)
    except candles.UnknownSymbol as exc:
        raise HTTPException(404, str(exc)) from None
    return {"symbol": symbol, "tf": tf, "account_id": account_id, "bars": [b.doc() for b in found]}
