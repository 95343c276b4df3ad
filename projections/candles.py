"""Candles (`proj_candles`): bid OHLC bars from the live ticks, per account, symbol, timeframe.

A bar covers `[start, start + timeframe)` in UTC (D1 from midnight UTC). Its open and close
are the first and last bid in the tick stream's order, high and low the extremes, `spread`
the narrowest ask - bid (in price), `tick_volume` the ticks, `real_volume` their volumes.
`filled` marks a bar that came from the terminal's rates (`copy_rates_range`) rather than
from ticks: such bars are written only where no bar is. Bars are a pure function of the
ticks in stream order: a rebuild gives the same rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import astuple, dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal, get_args

from bus.schemas import TickReceived
from bus.schemas.query import BarsQuery
from projections.db import Database
from projections.queries import parse_time

Timeframe = Literal["M1", "M5", "M15", "H1", "H4", "D1"]
TIMEFRAMES: Final[dict[str, int]] = {
    "M1": 60_000,
    "M5": 300_000,
    "M15": 900_000,
    "H1": 3_600_000,
    "H4": 14_400_000,
    "D1": 86_400_000,
}
"""Each timeframe's length in milliseconds."""
assert tuple(TIMEFRAMES) == get_args(Timeframe)

FIELDS: Final = (
    "account_id",
    "symbol",
    "tf",
    "start_msc",
    "open",
    "high",
    "low",
    "close",
    "spread",
    "tick_volume",
    "real_volume",
    "filled",
)
_UPSERT: Final = (
    f"INSERT INTO proj_candles ({', '.join(FIELDS)}) VALUES ({', '.join('?' for _ in FIELDS)})"
    " ON CONFLICT (symbol, tf, account_id, start_msc) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in FIELDS[4:])
)
_INSERT_FILLED: Final = (
    f"INSERT INTO proj_candles ({', '.join(FIELDS)}) VALUES ({', '.join('?' for _ in FIELDS)})"
    " ON CONFLICT (symbol, tf, account_id, start_msc) DO NOTHING"
)

Series = tuple[str, str, str]
"""(account, symbol, timeframe)."""


@dataclass(slots=True)
class Candle:
    account_id: str
    symbol: str
    tf: str
    start_msc: int
    open: float
    high: float
    low: float
    close: float
    spread: float
    tick_volume: int
    real_volume: float
    filled: int = 0

    def take(self, tick: TickReceived) -> None:
        self.high = max(self.high, tick.bid)
        self.low = min(self.low, tick.bid)
        self.close = tick.bid
        self.spread = min(self.spread, tick.ask - tick.bid)
        self.tick_volume += 1
        self.real_volume += tick.volume

    def doc(self) -> dict[str, Any]:
        """The bar as the API and `mtq.query.bars` show it."""
        return {
            "time": datetime.fromtimestamp(self.start_msc / 1000, UTC).isoformat(),
            "open": self.open,
            "high": self.high,
            "low": self.low,
            "close": self.close,
            "spread": self.spread,
            "tick_volume": self.tick_volume,
            "real_volume": self.real_volume,
            "filled": bool(self.filled),
        }


def bar_start(time_msc: int, tf: str) -> int:
    return time_msc - time_msc % TIMEFRAMES[tf]


def new_candle(tick: TickReceived, tf: str) -> Candle:
    return Candle(
        tick.account_id, tick.symbol, tf, bar_start(tick.time_msc, tf), tick.bid, tick.bid,
        tick.bid, tick.bid, tick.ask - tick.bid, 1, tick.volume,
    )  # fmt: skip


Loader = Callable[[Series, int], Candle | None]


class CandleBook:
    """The latest bar of each series and the bars changed since `clear`.

    A tick for a bar not in memory (after a restart, or a late tick for an older bar) takes
    the stored bar through `load`; a tick opening a bar after the latest one needs no read.
    """

    def __init__(self, load: Loader) -> None:
        self.load = load
        self.latest: dict[Series, Candle] = {}
        self.dirty: dict[tuple[str, str, str, int], Candle] = {}

    def apply(self, tick: TickReceived) -> None:
        for tf in TIMEFRAMES:
            series = (tick.account_id, tick.symbol, tf)
            start = bar_start(tick.time_msc, tf)
            key = (*series, start)
            bar = self.dirty.get(key)
            if bar is None:
                latest = self.latest.get(series)
                if latest is not None and latest.start_msc == start:
                    bar = latest
                elif latest is None or latest.start_msc > start:
                    bar = self.load(series, start)
            if bar is None:
                bar = new_candle(tick, tf)
            else:
                bar.take(tick)
            self.dirty[key] = bar
            latest = self.latest.get(series)
            if latest is None or start >= latest.start_msc:
                self.latest[series] = bar

    def save(self, cur: Any) -> int:
        rows = [astuple(bar) for bar in self.dirty.values()]
        cur.executemany(_UPSERT, rows)
        return len(rows)

    def clear(self) -> None:
        self.dirty.clear()


def load_candle(db: Database, series: Series, start: int) -> Candle | None:
    account_id, symbol, tf = series
    rows = db.query(
        f"SELECT {', '.join(FIELDS)} FROM proj_candles"
        " WHERE symbol = ? AND tf = ? AND account_id = ? AND start_msc = ?",
        [symbol, tf, account_id, start],
    )
    return _candle(rows[0]) if rows else None


def _candle(r: tuple[Any, ...]) -> Candle:
    return Candle(
        str(r[0]), str(r[1]), str(r[2]), int(r[3]), float(r[4]), float(r[5]), float(r[6]),
        float(r[7]), float(r[8]), int(r[9]), float(r[10]), int(r[11]),
    )  # fmt: skip


def save_filled(cur: Any, bars: Iterable[Candle]) -> int:
    """Bars from the terminal's rates, each written only where no bar is; how many offered."""
    rows = [astuple(bar) for bar in bars]
    if any(row[-1] != 1 for row in rows):
        raise ValueError("bars from the terminal's rates must be marked filled")
    cur.executemany(_INSERT_FILLED, rows)
    return len(rows)


# --- reads --------------------------------------------------------------------------------


class UnknownSymbol(LookupError):
    """No bars of the symbol (for the account asked, or for any account)."""


def bars(
    db: Database,
    symbol: str,
    tf: str,
    *,
    account_id: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 1000,
) -> tuple[str, list[Candle]]:
    """The account's bars of `symbol` starting in [start, end), oldest first, at most `limit`
    (the latest ones when more are in range). Without an account: the first account, by id,
    with bars of the symbol. UnknownSymbol when there is none."""
    account = account_id or _first_account(db, symbol, tf)
    clauses = ""
    params: list[Any] = [symbol, tf, account]
    if start is not None:
        clauses += " AND start_msc >= ?"
        params.append(int(start.timestamp() * 1000))
    if end is not None:
        clauses += " AND start_msc < ?"
        params.append(int(end.timestamp() * 1000))
    rows = db.query(
        f"SELECT {', '.join(FIELDS)} FROM proj_candles WHERE symbol = ? AND tf = ?"
        f" AND account_id = ?{clauses} ORDER BY start_msc DESC LIMIT ?",
        [*params, limit],
    )
    if not rows and not db.query(
        "SELECT 1 FROM proj_candles WHERE symbol = ? AND account_id = ? LIMIT 1", [symbol, account]
    ):
        raise UnknownSymbol(f"no bars of {symbol} for account {account}")
    return account, [_candle(r) for r in reversed(rows)]


def _first_account(db: Database, symbol: str, tf: str) -> str:
    rows = db.query(
        "SELECT account_id FROM proj_candles WHERE symbol = ? AND tf = ?"
        " ORDER BY account_id LIMIT 1",
        [symbol, tf],
    )
    if not rows:
        raise UnknownSymbol(f"no bars of {symbol}")
    return str(rows[0][0])


def bars_query(db: Database, q: BarsQuery) -> tuple[str, list[dict[str, Any]]]:
    """`mtq.query.bars`: UnknownSymbol, or ValueError for a bad time or range."""
    start = None if q.since is None else parse_time(q.since)
    end = None if q.until is None else parse_time(q.until)
    if start is not None and end is not None and start > end:
        raise ValueError(f"since {q.since} is after until {q.until}")
    account, found = bars(db, q.symbol, q.tf, account_id=q.account, start=start, end=end,
                          limit=q.limit)  # fmt: skip
    return account, [b.doc() for b in found]
