"""`analytics.report` from the per-day summaries: the same document, from a few hundred rows.

Whole UTC days inside the range come from `proj_trade_days` and `proj_equity_days`; the
range's partial first and last days, and each account's minutes not folded yet (after a
day's `through`), from `proj_trades` and `proj_equity`. Money is summed day by day (the
full-read sums trade by trade): the same to the cent.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from projections import analytics, analytics_reads, equity_days, trade_days
from projections.analytics import _maybe_ratio, _money, _ratio
from projections.db import Database

FIRST, LAST = "0000-01-01", "9999-12-31"


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)


def full_days(start: datetime | None, end: datetime | None) -> tuple[str, str]:
    """The first and last whole UTC day inside [start, end) (first > last: none)."""
    first = FIRST
    if start is not None:
        day = start.astimezone(UTC).date()
        first = (day if _midnight(day) == start else day + timedelta(days=1)).isoformat()
    last = LAST if end is None else (end.astimezone(UTC).date() - timedelta(days=1)).isoformat()
    return first, last


def summary_of(doc: dict[str, Any] | None) -> dict[str, Any]:
    """`analytics.summary` of the trades a combined summary stands for."""
    d = doc or trade_days.day_doc([])
    n = d["n"]
    return {
        "trades": n, "wins": d["wins"], "losses": d["losses"],
        "breakeven": n - d["wins"] - d["losses"], "net_profit": _money(d["net"]),
        "gross_profit": _money(d["gp"]), "gross_loss": _money(d["gl"]),
        "commission": _money(d["commission"]), "swap": _money(d["swap"]), "fee": _money(d["fee"]),
        "win_rate": _ratio(d["wins"] / n) if n else None,
        "profit_factor": _ratio(d["gp"] / -d["gl"]) if d["losses"] else None,
        "expectancy": _money(d["net"] / n) if n else None,
        "average_win": _money(d["gp"] / d["wins"]) if d["wins"] else None,
        "average_loss": _money(d["gl"] / d["losses"]) if d["losses"] else None,
        "largest_win": None if d["lw"] is None else _money(d["lw"]),
        "largest_loss": None if d["ll"] is None else _money(d["ll"]),
        "longest_win_streak": d["win_run"][2], "longest_loss_streak": d["loss_run"][2],
        "average_r": _ratio(d["r_sum"] / d["r_n"]) if d["r_n"] else None,
        "average_duration_s": _ratio(d["dur"] / n) if n else None,
    }  # fmt: skip


def _trade_docs(
    db: Database, account_id: str, start: datetime | None, end: datetime | None
) -> dict[tuple[str, str, str], dict[str, Any]]:
    first, last = full_days(start, end)
    summarized = db.query(
        "SELECT 1 FROM proj_trade_days WHERE account_id = ? LIMIT 1", [account_id]
    )
    if first > last or not summarized:  # no whole day, or views no projector summarized yet
        return trade_days.docs_of(analytics_reads.trades_in(db, account_id, start, end))
    docs = trade_days.read(db, account_id, first, last)
    head_end = None if first == FIRST else _midnight(date.fromisoformat(first))
    tail_start = None if last == LAST else _midnight(date.fromisoformat(last) + timedelta(days=1))
    if head_end is not None:
        docs |= trade_days.docs_of(analytics_reads.trades_in(db, account_id, start, head_end))
    if tail_start is not None:
        docs |= trade_days.docs_of(analytics_reads.trades_in(db, account_id, tail_start, end))
    return docs


def _equity_docs(
    db: Database, account_id: str, start: datetime | None, end: datetime | None
) -> dict[str, equity_days.Doc]:
    """day -> segments of the range's equity minutes of that day, in day order."""
    first, last = full_days(start, end)
    out: dict[str, equity_days.Doc] = {}

    def add(bars: Iterable[tuple[analytics.Bar, analytics.Bar]]) -> None:
        for e, b in bars:
            day = e.minute[:10]
            minute = equity_days.minute_doc((e.open, e.high, e.low, e.close),
                                            (b.open, b.high, b.low, b.close))  # fmt: skip
            out[day] = equity_days.combine_docs(out.get(day), minute)

    if first > last:
        add(zip(*analytics_reads.bars_in(db, account_id, start, end), strict=True))
        return out
    if first != FIRST:
        head_end = _midnight(date.fromisoformat(first))
        add(zip(*analytics_reads.bars_in(db, account_id, start, head_end), strict=True))
    stored = equity_days.read(db, account_id, first, last)
    for day, (_, doc) in stored.items():
        out[day] = equity_days.combine_docs(out.get(day), doc)
    after = max((through for through, _ in stored.values()), default=None)
    tail_start = (
        datetime.fromisoformat(after).replace(tzinfo=UTC) + timedelta(minutes=1)
        if after is not None
        else None
        if first == FIRST
        else _midnight(date.fromisoformat(first))
    )
    if tail_start is None and start is not None:
        tail_start = start
    add(zip(*analytics_reads.bars_in(db, account_id, tail_start, end), strict=True))
    return dict(sorted(out.items()))


def drawdowns(days: dict[str, equity_days.Doc], series: str) -> tuple[float, float]:
    whole: equity_days.Seg | None = None
    for doc in days.values():
        whole = equity_days.combine(whole, doc[series])
    return (0.0, 0.0) if whole is None else (whole[4], whole[5])


def curve(days: dict[str, equity_days.Doc]) -> list[dict[str, Any]]:
    """As `analytics.drawdown_curve`: per day the close, the running peak, the deepest fall."""
    peak = -math.inf
    out = []
    for day, doc in days.items():
        seg = doc["equity"]
        money, percent = seg[4], seg[5]
        if peak - seg[3] > 0:
            money = max(money, peak - seg[3])
            if peak > 0:
                percent = max(percent, (peak - seg[3]) / peak * 100.0)
        peak = max(peak, seg[2])
        out.append({"date": day, "close": _money(seg[1]), "peak": _money(peak),
                    "drawdown": _money(money), "drawdown_percent": _ratio(percent)})  # fmt: skip
    return out


def report(
    db: Database, account_id: str, start: datetime | None, end: datetime | None
) -> dict[str, Any]:
    """What `analytics.report(trades, equity, balance, start_balance)` gives for the range."""
    docs = _trade_docs(db, account_id, start, end)
    totals: dict[tuple[str, str], dict[str, Any]] = {}
    calendar = []
    for (day, dim, key), doc in sorted(docs.items()):
        totals[(dim, key)] = trade_days.combine(totals.get((dim, key)), doc)
        if dim == "all":
            calendar.append({"date": day, "net_profit": _money(doc["net"]), "trades": doc["n"],
                             "wins": doc["wins"]})  # fmt: skip
    everything = totals.get(("all", ""))
    hours: list[list[Any]] = everything["hours"] if everything else [[0.0] * 24, [0] * 24]
    days = _equity_docs(db, account_id, start, end)
    start_balance = next(iter(days.values()))["balance"][0] if days else None
    returns = (
        analytics.daily_returns(analytics.return_days(calendar), start_balance)
        if start_balance is not None
        else []
    )
    eq_money, eq_percent = drawdowns(days, "equity")
    bal_money, bal_percent = drawdowns(days, "balance")
    stats = summary_of(everything) | {
        "max_drawdown_equity": _money(eq_money),
        "max_drawdown_equity_percent": _ratio(eq_percent),
        "max_drawdown_balance": _money(bal_money),
        "max_drawdown_balance_percent": _ratio(bal_percent),
        "sharpe": _maybe_ratio(analytics.sharpe(returns)),
        "sortino": _maybe_ratio(analytics.sortino(returns)),
        "start_balance": None if start_balance is None else _money(start_balance),
    }
    groups = {dim: {k: summary_of(v) for (d, k), v in sorted(totals.items()) if d == dim}
              for dim in ("symbol", "strategy")}  # fmt: skip
    return {
        "stats": stats,
        "by_symbol": groups["symbol"],
        "by_strategy": groups["strategy"],
        "daily": calendar,
        "by_hour": [
            {"hour": h, "net_profit": _money(hours[0][h]), "trades": hours[1][h]} for h in range(24)
        ],
        "drawdown_curve": curve(days),
    }
