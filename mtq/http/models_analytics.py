"""Typed response models of the analytics, trades and bars endpoints.

The statistics are defined in `projections/README.md` ("Analytics"); a ratio is null where
it is undefined (no trade, no loss, fewer than two days).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class TradeStats(BaseModel):
    """Counts and money of a set of trades (an account's, a symbol's or a strategy's)."""

    trades: int
    wins: int
    losses: int
    breakeven: int
    net_profit: float
    gross_profit: float
    gross_loss: float
    commission: float
    swap: float
    fee: float
    win_rate: float | None = Field(description="wins / trades")
    profit_factor: float | None = Field(description="gross profit / -gross loss")
    expectancy: float | None = Field(description="net profit / trades")
    average_win: float | None
    average_loss: float | None
    largest_win: float | None
    largest_loss: float | None
    longest_win_streak: int
    longest_loss_streak: int
    average_r: float | None = Field(description="mean R multiple of the trades with an SL")
    average_duration_s: float | None


class AccountStats(TradeStats):
    max_drawdown_equity: float
    max_drawdown_equity_percent: float
    max_drawdown_balance: float
    max_drawdown_balance_percent: float
    sharpe: float | None = Field(description="annualized (sqrt 252), on daily returns")
    sortino: float | None = Field(description="annualized (sqrt 252), on daily returns")
    start_balance: float | None = Field(description="the first balance in the range")


class DayPL(BaseModel):
    date: str = Field(description="UTC day, YYYY-MM-DD")
    net_profit: float
    trades: int
    wins: int


class HourPL(BaseModel):
    hour: int = Field(ge=0, le=23, description="UTC hour of close")
    net_profit: float
    trades: int


class DrawdownDay(BaseModel):
    date: str
    close: float = Field(description="equity at the day's last minute")
    peak: float = Field(description="running peak of equity")
    drawdown: float = Field(description="the day's deepest fall below the peak, in money")
    drawdown_percent: float


class AnalyticsReport(BaseModel):
    """Every statistic of one account over `[from, to)` (null: open ended)."""

    account_id: str
    from_: str | None = Field(alias="from")
    to: str | None
    stats: AccountStats
    by_symbol: dict[str, TradeStats]
    by_strategy: dict[str, TradeStats] = Field(description="by magic number")
    daily: list[DayPL] = Field(description="the daily P/L calendar")
    by_hour: list[HourPL] = Field(description="24 entries, hour 0 to 23")
    drawdown_curve: list[DrawdownDay]


class TradeRow(BaseModel):
    identifier: int
    symbol: str
    side: Literal["buy", "sell"]
    volume: float
    strategy: str = Field(description="the magic number")
    magic: int
    signal: str = Field(description="the position comment")
    opened_at: str
    closed_at: str
    duration_s: float
    price_open: float
    close_price: float
    sl_open: float = Field(description="the SL at open (or the first one set), 0: none")
    r_multiple: float | None
    gross_profit: float
    commission: float
    swap: float
    fee: float
    net_profit: float
    reason: str = Field(description="why the closing deal happened (sl, tp, expert, ...)")


class TradesPage(BaseModel):
    account_id: str
    total: int = Field(description="trades in the range")
    offset: int
    items: list[TradeRow]
