"""The candles view: bars from ticks worked out by hand, restarts, late ticks, filled bars, reads.

On a real SQLite views database (the projector's schema).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bus.schemas import TickReceived
from projections import candles
from projections.candles import Candle, CandleBook, load_candle
from projections.db import Database, open_database

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
T0_MSC = int(T0.timestamp() * 1000)


def tick(second: float, bid: float, spread: float = 0.0002, account: str = "a-1") -> TickReceived:
    return TickReceived(
        account_id=account,
        symbol="EURUSD",
        bid=bid,
        ask=round(bid + spread, 5),
        volume=1.0,
        time_msc=T0_MSC + int(second * 1000),
    )


# 09:00:10 1.1000, 09:00:30 1.1010, 09:00:50 1.0990, 09:01:05 1.1005, 09:05:00 1.1020
TICKS = [
    tick(10, 1.1000),
    tick(30, 1.1010, spread=0.0001),
    tick(50, 1.0990),
    tick(65, 1.1005),
    tick(300, 1.1020, spread=0.0003),
]


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    found = open_database(f"sqlite:///{tmp_path / 'views.sqlite'}")
    try:
        yield found
    finally:
        found.close()


def project(db: Database, ticks: list[TickReceived]) -> None:
    book = CandleBook(lambda series, start: load_candle(db, series, start))
    for t in ticks:
        book.apply(t)
    with db.transaction() as cur:
        book.save(cur)


def rows(db: Database) -> list[tuple[object, ...]]:
    return db.query("SELECT * FROM proj_candles ORDER BY symbol, tf, account_id, start_msc")


def test_bars_when_ticks_then_ohlc_spread_and_volume_by_hand(db: Database) -> None:
    project(db, TICKS)
    _, m1 = candles.bars(db, "EURUSD", "M1")
    assert [(b.start_msc - T0_MSC) // 60_000 for b in m1] == [0, 1, 5]
    first = m1[0]
    assert (first.open, first.high, first.low, first.close) == (1.1000, 1.1010, 1.0990, 1.0990)
    assert first.spread == pytest.approx(0.0001)  # the narrowest of the minute
    assert (first.tick_volume, first.real_volume, first.filled) == (3, 3.0, 0)
    _, m5 = candles.bars(db, "EURUSD", "M5")
    assert [(b.open, b.close, b.tick_volume) for b in m5] == [(1.1, 1.1005, 4), (1.102, 1.102, 1)]
    _, d1 = candles.bars(db, "EURUSD", "D1")
    [day] = d1
    assert day.start_msc == int(datetime(2026, 3, 2, tzinfo=UTC).timestamp() * 1000)
    assert (day.open, day.high, day.low, day.close, day.tick_volume) == (
        1.1,
        1.102,
        1.099,
        1.102,
        5,
    )
    assert m1[0].doc()["time"] == "2026-03-02T09:00:00+00:00"


def test_bars_when_projected_across_restarts_then_the_same_rows(
    db: Database, tmp_path: Path
) -> None:
    project(db, TICKS)
    once = rows(db)
    again = open_database(f"sqlite:///{tmp_path / 'again.sqlite'}")
    try:
        for part in (TICKS[:2], TICKS[2:4], TICKS[4:]):  # a new book each time: a restart
            project(again, part)
        assert rows(again) == once
    finally:
        again.close()


def test_bars_when_a_late_tick_then_its_own_bar_is_updated(db: Database) -> None:
    project(db, TICKS)
    project(db, [tick(20, 1.0950)])  # 09:00:20, after the 09:05 tick in stream order
    _, m1 = candles.bars(db, "EURUSD", "M1")
    assert (m1[0].low, m1[0].close, m1[0].tick_volume) == (1.0950, 1.0950, 4)
    assert m1[-1].close == 1.1020


def test_filled_bars_when_saved_then_only_where_none_and_marked(db: Database) -> None:
    project(db, TICKS)
    filled = [
        Candle("a-1", "EURUSD", "M1", T0_MSC + m * 60_000, 1.2, 1.2, 1.2, 1.2, 0.0, 9, 0.0, 1)
        for m in (0, 2)
    ]
    with db.transaction() as cur:
        assert candles.save_filled(cur, filled) == 2
    _, m1 = candles.bars(db, "EURUSD", "M1")
    assert [((b.start_msc - T0_MSC) // 60_000, b.filled) for b in m1] == [
        (0, 0),  # from ticks: kept
        (1, 0),
        (2, 1),  # the gap, filled
        (5, 0),
    ]
    assert m1[0].open == 1.1000
    with db.transaction() as cur, pytest.raises(ValueError, match="marked filled"):
        candles.save_filled(cur, [Candle("a-1", "EURUSD", "M1", 0, 1, 1, 1, 1, 0, 1, 0, 0)])


def test_bars_read_when_ranged_limited_or_unknown(db: Database) -> None:
    project(db, [*TICKS, tick(10, 1.3000, account="a-0")])
    account, m1 = candles.bars(db, "EURUSD", "M1")
    assert account == "a-0"  # the first account by id
    account, m1 = candles.bars(db, "EURUSD", "M1", account_id="a-1", limit=2)
    assert [(b.start_msc - T0_MSC) // 60_000 for b in m1] == [1, 5]  # the latest two
    _, ranged = candles.bars(
        db,
        "EURUSD",
        "M1",
        account_id="a-1",
        start=datetime(2026, 3, 2, 9, 1, tzinfo=UTC),
        end=datetime(2026, 3, 2, 9, 5, tzinfo=UTC),
    )
    assert [(b.start_msc - T0_MSC) // 60_000 for b in ranged] == [1]
    with pytest.raises(candles.UnknownSymbol):
        candles.bars(db, "GBPUSD", "M1")
    with pytest.raises(candles.UnknownSymbol):
        candles.bars(db, "EURUSD", "M1", account_id="nobody")
    _, empty = candles.bars(db, "EURUSD", "M1", account_id="a-1", start=datetime(2027, 1, 1))
    assert empty == []
