"""Per-day summaries of closed trades (`proj_trade_days`), so a year's statistics read a few
hundred rows instead of every trade.

A row is one UTC day of one account: for all its trades (`dim` `all`), and per symbol and per
strategy. It is recomputed from the day's rows of `proj_trades`, in close order, in the same
transaction as any change to them. Summaries of consecutive days combine (`combine`) into
the counts, sums, extremes and streaks of `analytics.summary`; the streaks through the
prefix, suffix and longest run of each day.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import msgspec

from projections import trades as trades_view
from projections.analytics import Trade, utc_date, utc_hour
from projections.db import Database

_encode = msgspec.json.encode
_decode = msgspec.json.decode
Doc = dict[str, Any]
DAY_MS: Final = 86_400_000
_UPSERT: Final = (
    "INSERT INTO proj_trade_days (account_id, day, dim, key, doc) VALUES (?, ?, ?, ?, ?)"
    " ON CONFLICT (account_id, day, dim, key) DO UPDATE SET doc = excluded.doc"
)


def _run(flags: Sequence[bool]) -> tuple[int, int, int]:
    """Prefix, suffix and longest run of True."""
    prefix = next((i for i, f in enumerate(flags) if not f), len(flags))
    suffix = next((i for i, f in enumerate(reversed(flags)) if not f), len(flags))
    best = run = 0
    for f in flags:
        run = run + 1 if f else 0
        best = max(best, run)
    return prefix, suffix, best


def day_doc(trades: Sequence[Trade], *, hours: bool = False) -> Doc:
    """The summary of some trades of one day, in close order."""
    profits = [t.profit for t in trades]
    wins = [p for p in profits if p > 0]
    losses = [p for p in profits if p < 0]
    rs = [r for r in (t.r_multiple for t in trades) if r is not None]
    doc: Doc = {
        "n": len(profits), "wins": len(wins), "losses": len(losses), "net": sum(profits),
        "gp": sum(wins), "gl": sum(losses),
        "commission": sum(t.commission for t in trades), "swap": sum(t.swap for t in trades),
        "fee": sum(t.fee for t in trades), "lw": max(wins) if wins else None,
        "ll": min(losses) if losses else None, "r_sum": sum(rs), "r_n": len(rs),
        "dur": sum(t.duration_s for t in trades),
        "win_run": _run([p > 0 for p in profits]), "loss_run": _run([p < 0 for p in profits]),
    }  # fmt: skip
    if hours:
        net, count = [0.0] * 24, [0] * 24
        for t in trades:
            h = utc_hour(t.closed_msc)
            net[h] += t.profit
            count[h] += 1
        doc["hours"] = [net, count]
    return doc


def _runs(a: Sequence[int], an: int, b: Sequence[int], bn: int) -> list[int]:
    prefix = a[0] if a[0] < an else an + b[0]
    suffix = b[1] if b[1] < bn else bn + a[1]
    return [prefix, suffix, max(a[2], b[2], a[1] + b[0])]


def combine(a: Doc | None, b: Doc) -> Doc:
    """The summary of a's trades followed by b's."""
    if a is None:
        return b
    out: Doc = {k: a[k] + b[k] for k in ("n", "wins", "losses", "net", "gp", "gl", "commission",
                                          "swap", "fee", "r_sum", "r_n", "dur")}  # fmt: skip
    out["lw"] = max((v for v in (a["lw"], b["lw"]) if v is not None), default=None)
    out["ll"] = min((v for v in (a["ll"], b["ll"]) if v is not None), default=None)
    out["win_run"] = _runs(a["win_run"], a["n"], b["win_run"], b["n"])
    out["loss_run"] = _runs(a["loss_run"], a["n"], b["loss_run"], b["n"])
    if "hours" in a and "hours" in b:
        out["hours"] = [
            [x + y for x, y in zip(a["hours"][0], b["hours"][0], strict=True)],
            [x + y for x, y in zip(a["hours"][1], b["hours"][1], strict=True)],
        ]
    return out


def docs_of(trades: Iterable[Trade]) -> dict[tuple[str, str, str], Doc]:
    """(day, dim, key) -> summary of trades in close order (one account's)."""
    groups: dict[tuple[str, str, str], list[Trade]] = {}
    for t in trades:
        day = utc_date(t.closed_msc)
        for dim, key in (("all", ""), ("symbol", t.symbol), ("strategy", t.strategy)):
            groups.setdefault((day, dim, key), []).append(t)
    return {k: day_doc(v, hours=k[1] == "all") for k, v in groups.items()}


def trade_of(row: dict[str, Any]) -> Trade:
    """A closed row of the trades view as a Trade."""
    return Trade(**{c: row[c] for c in trades_view.COLUMNS})


def _trade(row: Sequence[Any]) -> Trade:
    return Trade(**dict(zip(trades_view.COLUMNS, row, strict=True)))


def _day_msc(day: str) -> int:
    return int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp() * 1000)


Key = tuple[int, int]
"""A trade's place in close order: (close msc, identifier)."""
DayDocs = dict[tuple[str, str], Doc]
"""(dim, key) -> summary, of one account's day."""


def refresh(cur: Any, account_id: str, day: str) -> tuple[Key, DayDocs]:
    """Recompute one (account, day) from `proj_trades` (inside the transaction that changed
    them); its last trade's key and its summaries."""
    start = _day_msc(day)
    cur.execute(
        f"SELECT {', '.join(trades_view.COLUMNS)} FROM proj_trades WHERE account_id = ?"
        " AND closed_msc >= ? AND closed_msc < ? ORDER BY closed_msc, identifier",
        [account_id, start, start + DAY_MS],
    )
    trades = [_trade(r) for r in cur.fetchall()]
    cur.execute("DELETE FROM proj_trade_days WHERE account_id = ? AND day = ?", [account_id, day])
    docs = {(dim, key): doc for (_, dim, key), doc in docs_of(trades).items()}
    _write(cur, account_id, day, docs)
    last = (trades[-1].closed_msc, trades[-1].identifier) if trades else (0, 0)
    return last, docs


def _write(cur: Any, account_id: str, day: str, docs: DayDocs) -> None:
    rows = [(account_id, day, dim, key, _encode(doc).decode()) for (dim, key), doc in docs.items()]
    cur.executemany(_UPSERT, rows)


class TradeDays:
    """The summaries of each account's latest day with a close, kept up in memory while
    closes come in close order; any other close (a late one, a day not in memory) has its
    day recomputed from `proj_trades` at `save`."""

    def __init__(self) -> None:
        self.latest: dict[str, tuple[str, Key, DayDocs]] = {}
        self._dirty: dict[tuple[str, str], DayDocs] = {}
        self._stale: set[tuple[str, str]] = set()

    def close(self, trade: Trade) -> None:
        day = utc_date(trade.closed_msc)
        key = (trade.closed_msc, trade.identifier)
        found = self.latest.get(trade.account_id)
        if (
            found is None
            or found[0] != day
            or key <= found[1]
            or (trade.account_id, day) in self._stale
        ):
            self._stale.add((trade.account_id, day))
            return
        docs = found[2]
        for dim, group in (("all", ""), ("symbol", trade.symbol), ("strategy", trade.strategy)):
            one = day_doc([trade], hours=dim == "all")
            docs[(dim, group)] = combine(docs.get((dim, group)), one)
        self.latest[trade.account_id] = (day, key, docs)
        self._dirty[(trade.account_id, day)] = docs

    def save(self, cur: Any) -> None:
        for account_id, day in sorted(self._stale):
            last, fresh = refresh(cur, account_id, day)
            current = self.latest.get(account_id)
            if current is None or current[0] <= day:
                self.latest[account_id] = (day, last, fresh)
        for (account_id, day), docs in sorted(self._dirty.items()):
            if (account_id, day) not in self._stale:
                _write(cur, account_id, day, docs)

    def clear(self) -> None:
        self._dirty.clear()
        self._stale.clear()


def backfill(db: Database) -> None:
    """Summaries of every day with a closed trade, when the table is empty (views made before
    it existed); nothing otherwise."""
    if db.query("SELECT 1 FROM proj_trade_days LIMIT 1"):
        return
    days = db.query(  # integer division in both SQLite and PostgreSQL
        "SELECT DISTINCT account_id, closed_msc / ? FROM proj_trades WHERE closed_msc IS NOT NULL",
        [DAY_MS],
    )
    touched = {(a, utc_date(int(index) * DAY_MS)) for a, index in days}
    if touched:
        with db.transaction() as cur:
            for account_id, day in sorted(touched):
                refresh(cur, account_id, day)


def read(
    db: Database, account_id: str, first_day: str, last_day: str
) -> dict[tuple[str, str, str], Doc]:
    """The stored summaries of the days in [first_day, last_day]."""
    rows = db.query(
        "SELECT day, dim, key, doc FROM proj_trade_days WHERE account_id = ? AND day >= ?"
        " AND day <= ?",
        [account_id, first_day, last_day],
    )
    return {(d, dim, key): _decode(doc) for d, dim, key, doc in rows}


def next_day(day: str) -> str:
    return (datetime.fromisoformat(day) + timedelta(days=1)).date().isoformat()
