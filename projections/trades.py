"""The trades view (`proj_trades`): one row per position, final once it is closed.

A row is written at the open with what the close cannot tell any more (the SL at open, or
the first one set after it, for the R multiple) and completed by the close with the
realized P/L and its parts. `analytics_reads` reads the rows back.
"""

from __future__ import annotations

from typing import Any, Final

from bus.schemas import PositionClosed, PositionModified, PositionOpened
from bus.schemas.facts import Fact
from projections import trade_days
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
        self.days = trade_days.TradeDays()

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
                self.days.close(trade_days.trade_of(row))
            case _:
                return

    def save(self, cur: Any) -> int:
        rows = [tuple(r[c] for c in COLUMNS) for r in self._dirty.values()]
        cur.executemany(_UPSERT, rows)
        self.days.save(cur)
        return len(rows)

    def clear(self) -> None:
        self._dirty.clear()
        self.days.clear()

    def load(self, db: Database) -> None:
        trade_days.backfill(db)
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
