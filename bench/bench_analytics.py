"""Analytics, candles and exports (issue 18).

- analytics: `analytics_report` over one account with 100,000 closed trades and a year of
  equity minutes (weekdays, 24 h), for the one-year range: p50/p99 of repeated reports
  (target p99 <= 200 ms), read from the per-day summaries; and the same report from every
  trade and minute (`analytics.report`), which the summaries replace;
- candles: the tick projector's rate over ticks in MT5_TICKS, as a ratio to a raw ordered
  read of the same ticks (the reader the projector uses, and nothing else);
- exports: rows/s of the trades (CSV, Parquet) and equity (CSV) exports, batch by batch.
Runs on a nats-server of its own; SQLite views in the work dir.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import nats

from bench.context import BenchContext
from bus import subjects
from bus.codec import encode
from bus.embedded import EmbeddedNatsServer
from bus.reader import FactReader
from bus.schemas import TickReceived
from bus.topology import ensure_topology
from projections import analytics, analytics_reads, equity_days, exports, trade_days
from projections.candle_projector import CandleProjector
from projections.db import Database, open_database
from projections.export_formats import encoded
from projections.exports import Span
from projections.trades import COLUMNS

ACCOUNT = "bench-an"
YEAR_START = datetime(2025, 1, 1, tzinfo=UTC)
YEAR_END = datetime(2026, 1, 1, tzinfo=UTC)
T = TypeVar("T")


def log(text: str) -> None:
    print(f"[analytics] {text}", file=sys.stderr, flush=True)


def seed_trades(db: Database, count: int) -> None:
    """`count` closed trades spread over the year (close order = id order)."""
    rng = random.Random(7)
    span_ms = int((YEAR_END - YEAR_START).total_seconds() * 1000)
    start = int(YEAR_START.timestamp() * 1000)
    rows = []
    for i in range(count):
        closed = start + span_ms * (i + 1) // (count + 1)
        opened = closed - rng.randint(60_000, 3_600_000)
        profit = round(rng.gauss(2.0, 40.0), 2)
        side = "buy" if i % 2 else "sell"
        price = 1.1 + rng.random() / 100
        sl = price - 0.005 if side == "buy" else price + 0.005
        row = {
            "account_id": ACCOUNT, "identifier": i + 1, "symbol": ("EURUSD", "XAUUSD")[i % 2],
            "side": side, "volume": 0.1, "magic": i % 5, "comment": "", "opened_msc": opened,
            "closed_msc": closed, "price_open": price, "close_price": price + profit / 1e4,
            "sl_open": sl, "profit": profit, "commission": -0.7, "swap": 0.0, "fee": 0.0,
            "reason": "tp" if profit > 0 else "sl",
        }  # fmt: skip
        rows.append(tuple(row[c] for c in COLUMNS))
    with db.transaction() as cur:
        cur.executemany(
            f"INSERT INTO proj_trades ({', '.join(COLUMNS)}) VALUES"
            f" ({', '.join('?' for _ in COLUMNS)})",
            rows,
        )


def seed_equity(db: Database, days: int) -> int:
    """Equity minutes of `days` weekdays from the year's start, 24 h each; how many."""
    rng = random.Random(8)
    equity = balance = 100_000.0
    rows = []
    day = YEAR_START
    done = 0
    while done < days:
        if day.weekday() < 5:
            for m in range(1440):
                moment = day + timedelta(minutes=m)
                o = equity
                equity += rng.gauss(0.0, 5.0)
                hi, lo = max(o, equity) + 1.0, min(o, equity) - 1.0
                rows.append((ACCOUNT, moment.isoformat()[:16], o, hi, lo, equity,
                             balance, balance, balance, balance, 1))  # fmt: skip
            done += 1
        day += timedelta(days=1)
    with db.transaction() as cur:
        cur.executemany("INSERT INTO proj_equity VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    return len(rows)


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p99_ms": round(p99 * 1000, 1),
        "runs": len(ordered),
    }


def time_full(db: Database, runs: int) -> dict[str, float]:
    """The same report from every trade and minute (`analytics.report`), for comparison."""
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        trades = analytics_reads.trades_in(db, ACCOUNT, YEAR_START, YEAR_END)
        equity, balance = analytics_reads.bars_in(db, ACCOUNT, YEAR_START, YEAR_END)
        analytics.report(trades, equity, balance, balance[0].open if balance else None)
        samples.append(time.perf_counter() - started)
    return percentiles(samples)


def time_report(db: Database, runs: int) -> dict[str, float]:
    """`analytics_report` (GET /accounts/{id}/analytics) for the one-year range."""
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        analytics_reads.analytics_report(db, ACCOUNT, YEAR_START, YEAR_END)
        samples.append(time.perf_counter() - started)
    return percentiles(samples)


async def export_rate(db: Database, kind: str, fmt: str) -> dict[str, float]:
    async def run(work: Callable[[Database], T]) -> T:
        return work(db)

    rows = size = 0

    async def counted() -> Any:
        nonlocal rows
        async for batch in exports.view_batches(run, kind, Span(ACCOUNT)):  # type: ignore[arg-type]
            rows += len(batch)
            yield batch

    started = time.perf_counter()
    async for chunk in encoded(counted(), kind, fmt):  # type: ignore[arg-type]
        size += len(chunk)
    seconds = time.perf_counter() - started
    return {"rows": rows, "rows_per_s": round(rows / seconds), "mb": round(size / 1e6, 1)}


def tick(i: int) -> TickReceived:
    bid = 1.1 + (i % 200) / 1e5
    return TickReceived(account_id=ACCOUNT, symbol=("EURUSD", "GBPUSD")[i % 2], bid=bid,
                        ask=bid + 0.0002, volume=1.0,
                        time_msc=int(YEAR_START.timestamp() * 1000) + i * 250)  # fmt: skip


async def candles_rate(url: str, db_url: str, count: int) -> dict[str, float]:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        await ensure_topology(js)
        log(f"publishing {count} ticks ...")
        for start in range(0, count, 2000):
            acks = [
                js.publish(subjects.tick(t.account_id, t.symbol), encode(t))
                for t in (tick(i) for i in range(start, min(count, start + 2000)))
            ]
            await asyncio.gather(*acks)
        last = (await js.stream_info(subjects.STREAM_TICKS)).state.last_seq
        reader = FactReader(lambda: js, 1, stream=subjects.STREAM_TICKS,
                            filters=subjects.TICKS_SUBJECTS, batch=5000)  # fmt: skip
        started = time.perf_counter()
        while reader.next_seq <= last:
            await reader.fetch(1.0)
        raw_s = time.perf_counter() - started
        await reader.close()
        db = open_database(db_url)
        try:
            projector = await CandleProjector.open(db, lambda: js)
            started = time.perf_counter()
            await projector.run(asyncio.Event(), until=last)
            candle_s = time.perf_counter() - started
            bars = db.query("SELECT COUNT(*) FROM proj_candles")[0][0]
        finally:
            db.close()
    finally:
        await nc.close()
    raw_rate, candle_rate = count / raw_s, count / candle_s
    return {
        "ticks": count,
        "bars": int(bars),
        "raw_read_ticks_per_s": round(raw_rate),
        "candles_ticks_per_s": round(candle_rate),
        "ratio_to_raw_read": round(candle_rate / raw_rate, 3),
    }


def run(ctx: BenchContext) -> dict[str, Any]:
    work = ctx.work_dir / "analytics"
    work.mkdir(parents=True, exist_ok=True)
    trades = 10_000 if ctx.quick else 100_000
    days = 20 if ctx.quick else 261
    db = open_database(f"sqlite:///{work / 'views.sqlite'}")
    try:
        log(f"seeding {trades} trades and {days} weekdays of equity minutes ...")
        seed_trades(db, trades)
        minutes = seed_equity(db, days)
        log("per-day summaries (what a projector starting on these views fills) ...")
        started = time.perf_counter()
        trade_days.backfill(db)
        equity_days.backfill(db)
        summarize_s = time.perf_counter() - started
        runs = 10 if ctx.quick else 30
        log(f"analytics over one year: {runs} reports ...")
        result: dict[str, Any] = {
            "analytics_one_year": {
                "trades": trades,
                "equity_minutes": minutes,
                **time_report(db, runs),
                "target_p99_ms": 200,
                "from": "per-day summaries (proj_trade_days, proj_equity_days)",
                "summaries_filled_once_s": round(summarize_s, 1),
            },
            "analytics_one_year_full_read": time_full(db, 3),
        }
        log("exports ...")
        result["export_trades_csv"] = asyncio.run(export_rate(db, "trades", "csv"))
        result["export_trades_parquet"] = asyncio.run(export_rate(db, "trades", "parquet"))
        result["export_equity_csv"] = asyncio.run(export_rate(db, "equity", "csv"))
    finally:
        db.close()
    with EmbeddedNatsServer(data_dir=work / "nats") as server:
        count = 20_000 if ctx.quick else 200_000
        candle_db = f"sqlite:///{work / 'candles.sqlite'}"
        result["candles"] = asyncio.run(candles_rate(server.url, candle_db, count))
    return result
