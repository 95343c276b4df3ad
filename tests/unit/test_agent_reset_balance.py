"""Issue 16 bug 6: the balance at the daily reset, rebuilt from the deal history."""

from __future__ import annotations

from datetime import UTC, datetime

from agents.reset_balance import balance_at, last_reset
from agents.terminal.mt5 import constants as c
from agents.terminal.mt5.structures import TradeDeal

OFFSET_MS = 2 * 3600 * 1000  # the server runs at UTC+2


def _deal(server_msc: int, profit: float, *, commission: float = 0.0, swap: float = 0.0,
          fee: float = 0.0, kind: int = c.DEAL_TYPE_SELL) -> TradeDeal:  # fmt: skip
    return TradeDeal(1, 1, server_msc // 1000, server_msc, kind, 1, 0, 1, 0, 0.1, 1.1,
                     commission, swap, profit, fee, "EURUSD", "", "")  # fmt: skip


def test_balance_when_deals_since_the_reset_then_each_taken_back_to_the_cent() -> None:
    reset = datetime(2026, 3, 2, 22, tzinfo=UTC)  # midnight Prague... as UTC
    since = int(reset.timestamp() * 1000)
    deals = [
        _deal(since + OFFSET_MS - 1, profit=500.0),  # one ms before the reset: not counted
        _deal(since + OFFSET_MS, profit=-1200.50, commission=-3.5),
        _deal(since + OFFSET_MS + 60_000, profit=250.25, swap=-1.25, fee=-0.5),
    ]
    rebuilt = balance_at(99_044.50, deals, since, lambda msc: msc - OFFSET_MS)
    assert rebuilt == 99_044.50 - (-1200.50 - 3.5 + 250.25 - 1.25 - 0.5)
    assert rebuilt == 100_000.00


def test_last_reset_when_prague_midnight_then_the_utc_instant() -> None:
    now = datetime(2026, 7, 1, 9, tzinfo=UTC)
    assert last_reset(now, "00:00", "Europe/Prague") == datetime(2026, 6, 30, 22, tzinfo=UTC)
    assert last_reset(now, "17:00", "America/New_York") == datetime(2026, 6, 30, 21, tzinfo=UTC)


def test_balance_when_money_paid_in_or_out_today_then_deposits_count_as_there_already() -> None:
    since = 1_000_000
    deposit = _deal(since + 1, profit=5_000.0, kind=c.DEAL_TYPE_BALANCE)
    payout = _deal(since + 2, profit=-2_000.0, kind=c.DEAL_TYPE_BALANCE)
    trade = _deal(since + 3, profit=-300.0)
    assert balance_at(102_700.0, [deposit, payout, trade], since, lambda m: m) == 105_000.0
