"""Performance statistics: pure functions of closed trades and equity bars.

The definitions are written in `projections/README.md` ("Analytics"); every function here
is one of them. Money is rounded to the cent and ratios to four decimals only when a report
is assembled (`report`), never in between.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

TRADING_DAYS_PER_YEAR: Final = 252
SATURDAY: Final = 5


@dataclass(frozen=True)
class Trade:
    """One closed position; `profit` is its realized P/L with commission, swap and fee."""

    account_id: str
    identifier: int
    symbol: str
    side: str
    volume: float
    magic: int
    comment: str
    opened_msc: int
    closed_msc: int
    price_open: float
    close_price: float
    sl_open: float
    profit: float
    commission: float = 0.0
    swap: float = 0.0
    fee: float = 0.0
    reason: str = "unknown"

    @property
    def gross(self) -> float:
        """P/L of the price move alone (before commission, swap and fee)."""
        return self.profit - self.commission - self.swap - self.fee

    @property
    def duration_s(self) -> float:
        return (self.closed_msc - self.opened_msc) / 1000.0

    @property
    def r_multiple(self) -> float | None:
        """Price move in units of the risk at open (entry to the SL at open); None: no SL."""
        return r_multiple(self.side, self.price_open, self.close_price, self.sl_open)

    @property
    def strategy(self) -> str:
        return str(self.magic)


@dataclass(frozen=True)
class Bar:
    """One minute of a money series (equity or balance): open, high, low, close."""

    minute: str
    open: float
    high: float
    low: float
    close: float


def r_multiple(side: str, price_open: float, close_price: float, sl: float) -> float | None:
    risk = price_open - sl if side == "buy" else sl - price_open
    if sl <= 0 or risk <= 0:
        return None
    move = close_price - price_open if side == "buy" else price_open - close_price
    return move / risk


def longest_streaks(profits: Iterable[float]) -> tuple[int, int]:
    """Longest runs of consecutive wins and of consecutive losses (a zero ends both)."""
    best_win = best_loss = win = loss = 0
    for p in profits:
        win = win + 1 if p > 0 else 0
        loss = loss + 1 if p < 0 else 0
        best_win, best_loss = max(best_win, win), max(best_loss, loss)
    return best_win, best_loss


def summary(trades: Sequence[Trade]) -> dict[str, Any]:
    """Counts and money statistics of trades in close order."""
    profits = [t.profit for t in trades]
    wins = [p for p in profits if p > 0]
    losses = [p for p in profits if p < 0]
    gross_profit, gross_loss = sum(wins), sum(losses)
    n = len(profits)
    win_streak, loss_streak = longest_streaks(profits)
    rs = [r for r in (t.r_multiple for t in trades) if r is not None]
    return {
        "trades": n,
        "wins": len(wins),
        "losses": len(losses),
        "breakeven": n - len(wins) - len(losses),
        "net_profit": _money(sum(profits)),
        "gross_profit": _money(gross_profit),
        "gross_loss": _money(gross_loss),
        "commission": _money(sum(t.commission for t in trades)),
        "swap": _money(sum(t.swap for t in trades)),
        "fee": _money(sum(t.fee for t in trades)),
        "win_rate": _ratio(len(wins) / n) if n else None,
        "profit_factor": _ratio(gross_profit / -gross_loss) if losses else None,
        "expectancy": _money(sum(profits) / n) if n else None,
        "average_win": _money(gross_profit / len(wins)) if wins else None,
        "average_loss": _money(gross_loss / len(losses)) if losses else None,
        "largest_win": _money(max(wins)) if wins else None,
        "largest_loss": _money(min(losses)) if losses else None,
        "longest_win_streak": win_streak,
        "longest_loss_streak": loss_streak,
        "average_r": _ratio(sum(rs) / len(rs)) if rs else None,
        "average_duration_s": _ratio(sum(t.duration_s for t in trades) / n) if n else None,
    }


def path(bar: Bar) -> tuple[float, float, float, float]:
    """The order of a minute's values: a rising minute (close >= open) dipped first (open,
    low, high, close), a falling one rose first (open, high, low, close), as testers do."""
    if bar.close >= bar.open:
        return bar.open, bar.low, bar.high, bar.close
    return bar.open, bar.high, bar.low, bar.close


def max_drawdown(bars: Iterable[Bar]) -> tuple[float, float]:
    """Largest fall from a running peak, in money and in percent of that peak.

    Within a minute the path is taken as `path(bar)`. The two maxima may be at different
    points.
    """
    peak = -math.inf
    money = percent = 0.0
    for bar in bars:
        for value in path(bar):
            if value > peak:
                peak = value
                continue
            fall = peak - value
            money = max(money, fall)
            if peak > 0:
                percent = max(percent, fall / peak * 100.0)
    return money, percent


def drawdown_curve(bars: Iterable[Bar]) -> list[dict[str, Any]]:
    """Per UTC day: closing value, running peak, and the day's deepest fall from it."""
    peak = -math.inf
    days: dict[str, dict[str, Any]] = {}
    for bar in bars:
        day = days.setdefault(
            bar.minute[:10], {"date": bar.minute[:10], "drawdown": 0.0, "percent": 0.0}
        )
        for value in path(bar):
            peak = max(peak, value)
            day["drawdown"] = max(day["drawdown"], peak - value)
            if peak > 0:
                day["percent"] = max(day["percent"], (peak - value) / peak * 100.0)
        day["close"], day["peak"] = bar.close, peak
    return [
        {
            "date": d["date"],
            "close": _money(d["close"]),
            "peak": _money(d["peak"]),
            "drawdown": _money(d["drawdown"]),
            "drawdown_percent": _ratio(d["percent"]),
        }
        for d in days.values()
    ]


def iso_msc(msc: int) -> str:
    return datetime.fromtimestamp(msc / 1000.0, UTC).isoformat()


def utc_date(msc: int) -> str:
    return datetime.fromtimestamp(msc / 1000.0, UTC).date().isoformat()


def utc_hour(msc: int) -> int:
    return datetime.fromtimestamp(msc / 1000.0, UTC).hour


def daily(trades: Iterable[Trade]) -> list[dict[str, Any]]:
    """The P/L calendar: each UTC day with a closed trade, its net P/L, trades and wins."""
    days: dict[str, list[float]] = {}
    for t in trades:
        days.setdefault(utc_date(t.closed_msc), []).append(t.profit)
    return [
        {
            "date": day,
            "net_profit": _money(sum(ps)),
            "trades": len(ps),
            "wins": sum(1 for p in ps if p > 0),
        }
        for day, ps in sorted(days.items())
    ]


def by_hour(trades: Iterable[Trade]) -> list[dict[str, Any]]:
    """Net P/L and trades for each UTC hour of close, 0 to 23 (every hour listed)."""
    net = [0.0] * 24
    count = [0] * 24
    for t in trades:
        hour = utc_hour(t.closed_msc)
        net[hour] += t.profit
        count[hour] += 1
    return [{"hour": h, "net_profit": _money(net[h]), "trades": count[h]} for h in range(24)]


def return_days(calendar: Sequence[dict[str, Any]]) -> list[float]:
    """Net P/L of every day from the first day in `calendar` to its last one.

    A weekday (Monday to Friday, UTC) without a closed trade counts as a day of 0; a weekend
    day counts only when a trade closed on it.
    """
    if not calendar:
        return []
    by_day = {d["date"]: float(d["net_profit"]) for d in calendar}
    day = date.fromisoformat(calendar[0]["date"])
    last = date.fromisoformat(calendar[-1]["date"])
    out: list[float] = []
    while day <= last:
        key = day.isoformat()
        if key in by_day:
            out.append(by_day[key])
        elif day.weekday() < SATURDAY:
            out.append(0.0)
        day += timedelta(days=1)
    return out


def daily_returns(day_profits: Sequence[float], start_balance: float) -> list[float]:
    """Each day's P/L over the balance it started with (start plus the days before)."""
    returns: list[float] = []
    balance = start_balance
    for p in day_profits:
        if balance <= 0:
            break
        returns.append(p / balance)
        balance += p
    return returns


def sharpe(returns: Sequence[float]) -> float | None:
    """Mean over sample standard deviation of daily returns, times sqrt(252)."""
    if len(returns) < 2:
        return None
    mean = sum(returns) / len(returns)
    var = sum((r - mean) ** 2 for r in returns) / (len(returns) - 1)
    if var <= 0:
        return None
    return mean / math.sqrt(var) * math.sqrt(TRADING_DAYS_PER_YEAR)


def sortino(returns: Sequence[float]) -> float | None:
    """Mean over downside deviation (root mean square of min(r, 0), all days), times sqrt(252)."""
    if len(returns) < 2:
        return None
    mean = sum(returns) / len(returns)
    downside = math.sqrt(sum(min(r, 0.0) ** 2 for r in returns) / len(returns))
    if downside <= 0:
        return None
    return mean / downside * math.sqrt(TRADING_DAYS_PER_YEAR)


def report(
    trades: Sequence[Trade],
    equity: Sequence[Bar],
    balance: Sequence[Bar],
    start_balance: float | None,
) -> dict[str, Any]:
    """Every statistic of one account over one range (trades in close order)."""
    eq_money, eq_percent = max_drawdown(equity)
    bal_money, bal_percent = max_drawdown(balance)
    calendar = daily(trades)
    returns = (
        daily_returns(return_days(calendar), start_balance) if start_balance is not None else []
    )
    by_symbol: dict[str, list[Trade]] = {}
    by_strategy: dict[str, list[Trade]] = {}
    for t in trades:
        by_symbol.setdefault(t.symbol, []).append(t)
        by_strategy.setdefault(t.strategy, []).append(t)
    stats = summary(trades)
    stats |= {
        "max_drawdown_equity": _money(eq_money),
        "max_drawdown_equity_percent": _ratio(eq_percent),
        "max_drawdown_balance": _money(bal_money),
        "max_drawdown_balance_percent": _ratio(bal_percent),
        "sharpe": _maybe_ratio(sharpe(returns)),
        "sortino": _maybe_ratio(sortino(returns)),
        "start_balance": None if start_balance is None else _money(start_balance),
    }
    return {
        "stats": stats,
        "by_symbol": {k: summary(v) for k, v in sorted(by_symbol.items())},
        "by_strategy": {k: summary(v) for k, v in sorted(by_strategy.items())},
        "daily": calendar,
        "by_hour": by_hour(trades),
        "drawdown_curve": drawdown_curve(equity),
    }


def _money(value: float) -> float:
    return round(value + 0.0, 2) + 0.0


def _ratio(value: float) -> float:
    return round(value, 4) + 0.0


def _maybe_ratio(value: float | None) -> float | None:
    return None if value is None else _ratio(value)
