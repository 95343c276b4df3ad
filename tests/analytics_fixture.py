"""A hand-made account for the report and export tests, seeded through the projector's views.

Account `rep-1`, Monday 2 and Tuesday 3 March 2026 (UTC):

| id | symbol | side | open | close | net P/L | commission | SL at open |
| --- | --- | --- | --- | --- | --- | --- | --- |
| 1 | EURUSD | buy | Mon 09:00 @ 1.1000 | Mon 10:00 @ 1.1100 | +100 | -7 | 1.0950 (R 2) |
| 2 | EURUSD | sell | Mon 11:00 @ 1.1100 | Mon 11:30 @ 1.1140 | -40 | 0 | 1.1150 (R -0.8) |
| 3 | XAUUSD | buy | Tue 09:00 @ 2000 | Tue 14:00 @ 2005 | +25 | 0 | none |

Equity minutes (one snapshot each, balance 100000 then after each close):
Mon 09:00 100000, 10:00 100100, 11:30 100060, Tue 14:00 100085.

By hand: 3 trades, 2 wins, net 85, gross profit 125, gross loss -40, win rate 0.6667,
profit factor 3.125, expectancy 28.33, largest win 100, largest loss -40, streaks 1 and 1,
average R 0.6 ((2 - 0.8) / 2), average duration (3600 + 1800 + 18000) / 3 = 7800 s,
max equity drawdown 40 (100100 to 100060), 0.04 % of 100100 (0.03996 -> 0.04).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final, Literal

from bus import subjects
from bus.schemas import PositionClosed, PositionOpened
from tests.integration.test_api_support import Seeder, msc

ACCOUNT: Final = "rep-1"
MONDAY: Final = datetime(2026, 3, 2, tzinfo=UTC)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


Row = tuple[int, str, Literal["buy", "sell"], datetime, datetime, float, float, float, float, float]
TRADES: Final[tuple[Row, ...]] = (
    # id, symbol, side, open time, close time, price open, close price, sl, profit, commission
    (1, "EURUSD", "buy", at(2, 9), at(2, 10), 1.1000, 1.1100, 1.0950, 100.0, -7.0),
    (2, "EURUSD", "sell", at(2, 11), at(2, 11, 30), 1.1100, 1.1140, 1.1150, -40.0, 0.0),
    (3, "XAUUSD", "buy", at(3, 9), at(3, 14), 2000.0, 2005.0, 0.0, 25.0, 0.0),
)
EQUITY: Final = ((at(2, 9), 100000.0), (at(2, 10), 100100.0), (at(2, 11, 30), 100060.0))
LAST_EQUITY: Final = (at(3, 14), 100085.0)


def seed_account(db_url: str) -> Seeder:
    """Seed `rep-1` as the module docstring says and commit it."""
    seeder = Seeder(db_url, (ACCOUNT,))
    seeder.register(ACCOUNT, at(2, 8))
    balance = 100000.0
    snapshots = dict(EQUITY)
    snapshots[LAST_EQUITY[0]] = LAST_EQUITY[1]
    for ident, symbol, side, opened, closed, p_open, p_close, sl, profit, commission in TRADES:
        if opened in snapshots:
            seeder.snapshot(ACCOUNT, opened, snapshots[opened], balance)
        seeder.fact(
            subjects.position(ACCOUNT, "opened"),
            PositionOpened(
                account_id=ACCOUNT,
                ticket=ident,
                identifier=ident,
                symbol=symbol,
                side=side,
                volume=0.1,
                price_open=p_open,
                price_current=p_open,
                sl=sl,
                tp=0.0,
                magic=7,
                reason="expert",
                comment=f"sig-{ident}",
                time_msc=msc(opened),
            ),
        )
        seeder.fact(
            subjects.position(ACCOUNT, "closed"),
            PositionClosed(
                account_id=ACCOUNT,
                ticket=ident,
                identifier=ident,
                symbol=symbol,
                side=side,
                volume=0.1,
                price_open=p_open,
                price_current=p_close,
                profit=profit,
                commission=commission,
                magic=7,
                reason="expert",
                comment=f"sig-{ident}",
                time_msc=msc(opened),
                close_price=p_close,
                deal_reason="tp" if profit > 0 else "sl",
                close_time_msc=msc(closed),
            ),
        )
        balance += profit
        if closed in snapshots:
            seeder.snapshot(ACCOUNT, closed, snapshots[closed], balance)
    seeder.commit()
    return seeder
