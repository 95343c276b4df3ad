"""The report from per-day summaries equals `analytics.report` over every trade and minute.

Ten days of one account's snapshots and trades, projected by the projector's own views into
a real SQLite database in several batches with restarts between them (the summaries are
taken up again from the database), then compared for open, whole-day, partial-day and
single-day ranges.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import pytest

from bus import subjects
from bus.codec import encode
from bus.schemas import AccountSnapshot, PositionClosed, PositionOpened
from projections import analytics, analytics_days
from projections.analytics_reads import bars_in, trades_in
from projections.db import Database, open_database
from projections.settings import AccountSettings
from projections.views import Views

ACCOUNT = "days-1"
T0 = datetime(2026, 3, 2, 0, 3, tzinfo=UTC)


def events(seed: int) -> list[tuple[str, Any]]:
    """Snapshots every 1 to 9 minutes over ten days, trades opening and closing among them."""
    rng = random.Random(seed)
    out: list[tuple[str, Any]] = []
    at, equity, balance, ident, open_ids = T0, 100_000.0, 100_000.0, 0, []
    while at < T0 + timedelta(days=10):
        equity += rng.gauss(0, 30)
        snap = AccountSnapshot(
            account_id=ACCOUNT, login=1, balance=balance, equity=equity, margin=0.0,
            margin_free=equity, margin_level=0.0, profit=equity - balance, currency="USD",
            server="Sim", time=at,
        )  # fmt: skip
        out.append((subjects.account_snapshot(ACCOUNT), snap))
        msc = int(at.timestamp() * 1000)
        if rng.random() < 0.3:
            ident += 1
            open_ids.append(ident)
            side: Literal["buy", "sell"] = "buy" if rng.random() < 0.5 else "sell"
            out.append((subjects.position(ACCOUNT, "opened"), PositionOpened(
                account_id=ACCOUNT, ticket=ident, identifier=ident,
                symbol=rng.choice(["EURUSD", "XAUUSD"]), side=side, volume=0.1,
                price_open=1.1, price_current=1.1, sl=1.09 if side == "buy" else 1.11,
                magic=rng.choice([1, 2]), reason="expert", time_msc=msc)))  # fmt: skip
        if open_ids and rng.random() < 0.3:
            closing = open_ids.pop(rng.randrange(len(open_ids)))
            profit = round(rng.gauss(0, 50), 2)
            balance += profit
            out.append((subjects.position(ACCOUNT, "closed"), PositionClosed(
                account_id=ACCOUNT, ticket=closing, identifier=closing, symbol="EURUSD",
                side="buy", volume=0.1, price_open=1.1, price_current=1.1 + profit / 1e4,
                profit=profit, commission=-0.7, magic=1, reason="expert", time_msc=msc,
                close_price=1.1 + profit / 1e4, deal_reason="tp", close_time_msc=msc)))  # fmt: skip
        at += timedelta(minutes=rng.randint(1, 9), seconds=rng.randint(0, 50))
    return out


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    found = open_database(f"sqlite:///{tmp_path_factory.mktemp('days') / 'views.sqlite'}")
    settings = {ACCOUNT: AccountSettings(account_id=ACCOUNT)}
    all_events = events(5)
    seq = 0
    for part in range(4):  # four projector runs, each taking up the last one's views
        views = Views(settings)
        views.load(found)
        chunk = all_events[part * len(all_events) // 4 : (part + 1) * len(all_events) // 4]
        for i, (subject, message) in enumerate(chunk):
            seq += 1
            views.apply_fact(seq, subject, encode(message))
            if i % 97 == 0 or i == len(chunk) - 1:
                with found.transaction() as cur:
                    views.save(cur)
                views.clear()
    try:
        yield found
    finally:
        found.close()


def full_read(db: Database, start: datetime | None, end: datetime | None) -> dict[str, Any]:
    trades = trades_in(db, ACCOUNT, start, end)
    equity, balance = bars_in(db, ACCOUNT, start, end)
    return analytics.report(trades, equity, balance, balance[0].open if balance else None)


def day(n: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2026, 3, 2 + n, hour, minute, tzinfo=UTC)


RANGES = [
    (None, None),
    (day(1), day(4)),  # whole days
    (day(1, 7, 30), day(6, 15, 5)),  # partial first and last days
    (None, day(5, 12)),
    (day(3, 23, 59), None),
    (day(2, 9), day(2, 17)),  # inside one day
    (day(4), day(4)),  # empty
    (day(20), None),  # after everything
]


@pytest.mark.parametrize(("start", "end"), RANGES)
def test_report_from_day_summaries_when_compared_then_equal_to_the_full_read(
    db: Database, start: datetime | None, end: datetime | None
) -> None:
    fast = analytics_days.report(db, ACCOUNT, start, end)
    assert fast == full_read(db, start, end)


def test_day_summaries_when_projected_then_every_day_kept(db: Database) -> None:
    trade_days = db.query("SELECT COUNT(DISTINCT day) FROM proj_trade_days")[0][0]
    equity_days = db.query("SELECT COUNT(*) FROM proj_equity_days")[0][0]
    assert trade_days >= 9
    assert equity_days >= 10
    report = analytics_days.report(db, ACCOUNT, None, None)
    assert report["stats"]["trades"] > 100
    assert len(report["drawdown_curve"]) >= 10  # a row per day with equity minutes


def test_backfill_when_views_predate_the_summaries_then_the_same_report(
    db: Database, tmp_path: Path
) -> None:
    copy = open_database(f"sqlite:///{tmp_path / 'copy.sqlite'}")
    try:
        for table in ("proj_trades", "proj_equity"):
            rows = db.query(f"SELECT * FROM {table}")
            with copy.transaction() as cur:
                cur.executemany(
                    f"INSERT INTO {table} VALUES ({', '.join('?' for _ in rows[0])})", rows
                )
        before = analytics_days.report(copy, ACCOUNT, day(1), day(6, 12))  # raw: no summaries
        views = Views({ACCOUNT: AccountSettings(account_id=ACCOUNT)})
        views.load(copy)  # a projector starting on them fills the summaries
        assert copy.query("SELECT COUNT(*) FROM proj_trade_days")[0][0] > 0
        assert copy.query("SELECT COUNT(*) FROM proj_equity_days")[0][0] > 0
        after = analytics_days.report(copy, ACCOUNT, day(1), day(6, 12))
        assert before == after == full_read(db, day(1), day(6, 12))
    finally:
        copy.close()
