"""Per-day summaries of the equity minutes (`proj_equity_days`), so a year's drawdowns read a
few hundred rows instead of every minute.

A segment of a money series (minutes in order, each walked as `analytics.path`) is
`[first, last, peak, low, drawdown, drawdown_percent]`: the falls measured within it from its
own running peak. Two consecutive segments combine exactly: a value's fall from the running
peak of both is the larger of its fall within its own segment and its fall from the first
segment's peak, so the largest one is `max(a.dd, b.dd, a.peak - b.low)` (in percent the same
with `a.peak` as divisor). The projector folds a minute into its day when the account's next
minute begins (a minute is final then), so a day's row covers its minutes up to `through`
and only the account's current minute is not folded yet; readers add the minutes after
`through` from `proj_equity`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Final

import msgspec

from projections.db import Database

Seg = list[float]
_encode = msgspec.json.encode
_decode = msgspec.json.decode
Doc = dict[str, Seg]
SERIES: Final = ("equity", "balance")
_UPSERT: Final = (
    "INSERT INTO proj_equity_days (account_id, day, through, doc) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (account_id, day) DO UPDATE SET through = excluded.through, doc = excluded.doc"
)


def path(ohlc: Sequence[float]) -> tuple[float, float, float, float]:
    """As `analytics.path`: a rising minute dipped first, a falling one rose first."""
    o, h, low, c = ohlc
    return (o, low, h, c) if c >= o else (o, h, low, c)


def segment(values: Sequence[float]) -> Seg:
    peak, low = -math.inf, math.inf
    money = percent = 0.0
    for v in values:
        low = min(low, v)
        if v > peak:
            peak = v
            continue
        fall = peak - v
        money = max(money, fall)
        if peak > 0:
            percent = max(percent, fall / peak * 100.0)
    return [values[0], values[-1], peak, low, money, percent]


def combine(a: Seg | None, b: Seg) -> Seg:
    """The segment of a's values followed by b's."""
    if a is None:
        return b
    fall = a[2] - b[3]
    money, percent = max(a[4], b[4]), max(a[5], b[5])
    if fall > 0:
        money = max(money, fall)
        if a[2] > 0:
            percent = max(percent, fall / a[2] * 100.0)
    return [a[0], b[1], max(a[2], b[2]), min(a[3], b[3]), money, percent]


def minute_doc(equity: Sequence[float], balance: Sequence[float]) -> Doc:
    """One minute's segments, from its equity and balance OHLC."""
    return {"equity": segment(path(equity)), "balance": segment(path(balance))}


def combine_docs(a: Doc | None, b: Doc) -> Doc:
    if a is None:
        return b
    return {s: combine(a[s], b[s]) for s in SERIES}


class EquityDays:
    """Each account's current day as folded so far, and the day rows changed since `clear`."""

    def __init__(self) -> None:
        self.days: dict[str, tuple[str, Doc]] = {}
        self._dirty: dict[tuple[str, str], tuple[str, Doc]] = {}

    def fold(self, account_id: str, bar: dict[str, Any] | None) -> None:
        """Fold a final minute bar (the projector's `{minute, equity, balance}`) into its day."""
        if bar is None:
            return
        day = bar["minute"][:10]
        found = self.days.get(account_id)
        doc = minute_doc(bar["equity"], bar["balance"])
        if found is not None and found[0] == day:
            doc = combine_docs(found[1], doc)
        self.days[account_id] = (day, doc)
        self._dirty[(account_id, day)] = (bar["minute"], doc)

    def save(self, cur: Any) -> int:
        rows = [
            (a, d, through, _encode(doc).decode()) for (a, d), (through, doc) in self._dirty.items()
        ]
        cur.executemany(_UPSERT, rows)
        return len(rows)

    def clear(self) -> None:
        self._dirty.clear()

    def load(self, db: Database, bars: dict[str, dict[str, Any]]) -> None:
        """Take up each account's day from its row (its current minute is not in it)."""
        backfill(db)
        for account_id, bar in bars.items():
            day = bar["minute"][:10]
            rows = db.query(
                "SELECT doc FROM proj_equity_days WHERE account_id = ? AND day = ?",
                [account_id, day],
            )
            if rows:
                self.days[account_id] = (day, _decode(rows[0][0]))


def backfill(db: Database) -> None:
    """Fold every minute but each account's last, when the table is empty (views made before
    it existed); nothing otherwise."""
    if db.query("SELECT 1 FROM proj_equity_days LIMIT 1") or not db.query(
        "SELECT 1 FROM proj_equity LIMIT 1"
    ):
        return
    days = EquityDays()
    last: dict[str, dict[str, Any]] = {}
    rows = db.query(
        "SELECT account_id, minute, equity_open, equity_high, equity_low, equity_close,"
        " balance_open, balance_high, balance_low, balance_close FROM proj_equity"
        " ORDER BY account_id, minute"
    )
    for account_id, minute, *values in rows:
        days.fold(account_id, last.get(account_id))
        last[account_id] = {"minute": minute, "equity": values[:4], "balance": values[4:]}
    with db.transaction() as cur:
        days.save(cur)


def read(
    db: Database, account_id: str, first_day: str, last_day: str
) -> dict[str, tuple[str, Doc]]:
    """day -> (through, doc) of the days in [first_day, last_day]."""
    rows = db.query(
        "SELECT day, through, doc FROM proj_equity_days WHERE account_id = ? AND day >= ?"
        " AND day <= ? ORDER BY day",
        [account_id, first_day, last_day],
    )
    return {d: (through, _decode(doc)) for d, through, doc in rows}
