"""The trades view (`proj_trades`): one row per position, final once it is closed.

A row is written at the open with what the close cannot tell any more (the SL at open, or
the first one set after it, for the R multiple) and completed by the close with the
realized P/L and its parts. Reads
(`trades_in`, `analytics`) turn rows into `analytics.Trade` and the equity view into bars.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from bus.schemas import PositionClosed, PositionModified, PositionOpened
from bus.schemas.facts import Fact
from projections import analytics
from projections.analytics import Bar, Trade
from projections.db import Database

COLUMNS: Final = (
    "account_id",
    "identifier",
    "symbol",
    "side",
    "volume",
    "magic",
    "comment",
    "opened_msc",
    "closed_msc",
    "price_open",
    "close_price",
    "sl_open",
    "profit",
    "commission",
    "swap",
    "fee",
    "reason",
)
"""The columns of a closed trade, in `Trade` field order."""

_UPSERT: Final = (
    f"INSERT INTO proj_trades ({', '.join(COLUMNS)}) VALUES ({', '.join('?' for _ in COLUMNS)})"
    " ON CONFLICT (account_id, identifier) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in COLUMNS[2:])
)


class TradeBook:
    """Open positions as the trades view sees them, and the rows changed since `clear`."""

    def __init__(self) -> None:
        self.open: dict[tuple[str, int], dict[str, Any]] = {}
        self._dirty: dict[tuple[str, int], dict[str, Any]] = {}

    def apply(self, fact: Fact) -> None:
        """Take a fact the positions view accepted (only position facts matter)."""
        match fact:
            case PositionOpened():
                row = _row(fact, fact.time_msc)
                self.open[(fact.account_id, fact.identifier)] = row
                self._dirty[(fact.account_id, fact.identifier)] = row
            case PositionModified():
                found = self.open.get((fact.account_id, fact.identifier))
                if found is not None and found["sl_open"] <= 0 < fact.sl:
                    found["sl_open"] = fact.sl  # the first stop the position had
                    self._dirty[(fact.account_id, fact.identifier)] = found
            case PositionClosed():
                key = (fact.account_id, fact.identifier)
                row = self.open.pop(key) if key in self.open else _row(fact, fact.time_msc)
                row.update(
                    volume=max(row["volume"], fact.volume),
                    magic=fact.magic,
                    comment=fact.comment or row["comment"],
                    closed_msc=fact.close_time_msc,
                    close_price=fact.close_price,
                    profit=fact.profit,
                    commission=fact.commission,
                    swap=fact.swap,
                    fee=fact.fee,
                    reason=fact.deal_reason,
                )
                self._dirty[key] = row
            case _:
                return

    def save(self, cur: Any) -> int:
        rows = [tuple(r[c] for c in COLUMNS) for r in self._dirty.values()]
        cur.executemany(_UPSERT, rows)
        return len(rows)

    def clear(self) -> None:
        self._dirty.clear()

    def load(self, db: Database) -> None:
        rows = db.query(f"SELECT {', '.join(COLUMNS)} FROM proj_trades WHERE closed_msc IS NULL")
        for values in rows:
            row = dict(zip(COLUMNS, values, strict=True))
            self.open[(row["account_id"], int(row["identifier"]))] = row


def _row(fact: PositionOpened | PositionClosed, opened_msc: int) -> dict[str, Any]:
    return {
        "account_id": fact.account_id,
        "identifier": fact.identifier,
        "symbol": fact.symbol,
        "side": fact.side,
        "volume": fact.volume,
        "magic": fact.magic,
        "comment": fact.comment,
        "opened_msc": opened_msc,
        "closed_msc": None,
        "price_open": fact.price_open,
        "close_price": None,
        "sl_open": fact.sl,
        "profit": None,
        "commission": 0.0,
        "swap": 0.0,
        "fee": 0.0,
        "reason": "unknown",
    }


# --- reads -------------------------------------------------------------------------------


def msc(at: datetime | None) -> int | None:
    return None if at is None else int(at.timestamp() * 1000)


def _range(column: str, start: int | None, end: int | None) -> tuple[str, list[Any]]:
    clauses, params = [], []
    if start is not None:
        clauses.append(f"{column} >= ?")
        params.append(start)
    if end is not None:
        clauses.append(f"{column} < ?")
        params.append(end)
    return "".join(f" AND {c}" for c in clauses), params


def trades_in(
    db: Database, account_id: str, start: datetime | None, end: datetime | None
) -> list[Trade]:
    """Closed trades of the account with a close in [start, end), in close order."""
    where, params = _range("closed_msc", msc(start), msc(end))
    rows = db.query(
        f"SELECT {', '.join(COLUMNS)} FROM proj_trades WHERE account_id = ?"
        f" AND closed_msc IS NOT NULL{where} ORDER BY closed_msc, identifier",
        [account_id, *params],
    )
    return [_trade(r) for r in rows]


def _trade(r: tuple[Any, ...]) -> Trade:
    return Trade(
        account_id=r[0],
        identifier=int(r[1]),
        symbol=r[2],
        side=r[3],
        volume=float(r[4]),
        magic=int(r[5]),
        comment=r[6],
        opened_msc=int(r[7]),
        closed_msc=int(r[8]),
        price_open=float(r[9]),
        close_price=float(r[10]),
        sl_open=float(r[11]),
        profit=float(r[12]),
        commission=float(r[13]),
        swap=float(r[14]),
        fee=float(r[15]),
        reason=r[16],
    )


def trade_doc(t: Trade) -> dict[str, Any]:
    """A trade as the API and the exports show it."""
    return {
        "identifier": t.identifier,
        "symbol": t.symbol,
        "side": t.side,
        "volume": t.volume,
        "strategy": t.strategy,
        "magic": t.magic,
        "signal": t.comment,
        "opened_at": analytics.iso_msc(t.opened_msc),
        "closed_at": analytics.iso_msc(t.closed_msc),
        "duration_s": t.duration_s,
        "price_open": t.price_open,
        "close_price": t.close_price,
        "sl_open": t.sl_open,
        "r_multiple": None if t.r_multiple is None else round(t.r_multiple, 4),
        "gross_profit": round(t.gross, 2),
        "commission": t.commission,
        "swap": t.swap,
        "fee": t.fee,
        "net_profit": t.profit,
        "reason": t.reason,
    }


def bars_in(
    db: Database, account_id: str, start: datetime | None, end: datetime | None
) -> tuple[list[Bar], list[Bar]]:
    """Equity and balance minute bars of the account in [start, end)."""
    clauses, params = ["account_id = ?"], [account_id]
    if start is not None:
        clauses.append("minute >= ?")
        params.append(start.isoformat()[:16])
    if end is not None:
        clauses.append("minute < ?")
        params.append(end.isoformat()[:16])
    rows = db.query(
        "SELECT minute, equity_open, equity_high, equity_low, equity_close, balance_open,"
        " balance_high, balance_low, balance_close FROM proj_equity WHERE "
        + " AND ".join(clauses)
        + " ORDER BY minute",
        params,
    )
    equity = [Bar(m, eo, eh, el, ec) for m, eo, eh, el, ec, *_ in rows]
    balance = [Bar(m, bo, bh, bl, bc) for m, *_, bo, bh, bl, bc in rows]
    return equity, balance


def analytics_report(
    db: Database, account_id: str, start: datetime | None, end: datetime | None
) -> dict[str, Any]:
    """Every statistic of the account over [start, end) (None: open ended)."""
    trades = trades_in(db, account_id, start, end)
    equity, balance = bars_in(db, account_id, start, end)
    start_balance = balance[0].open if balance else None
    body = analytics.report(trades, equity, balance, start_balance)
    return {
        "account_id": account_id,
        "from": None if start is None else start.isoformat(),
        "to": None if end is None else end.isoformat(),
        **body,
    }
