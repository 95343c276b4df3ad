"""Value objects the engine builds from wire facts and requests, and the pre-trade answer."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

Side = Literal["buy", "sell"]


@dataclass(frozen=True, slots=True)
class FactRef:
    """The stream sequence of the fact behind a decision and its time (UTC)."""

    seq: int
    time: datetime


@dataclass(frozen=True, slots=True)
class AccountState:
    """An account snapshot's money, at cent precision.

    `reset_at` is the last daily reset instant when the agent rebuilt the balance (and, where
    it can, the equity) at that instant from the terminal's deal history.
    """

    balance: Decimal
    equity: Decimal
    margin: Decimal = Decimal(0)
    margin_free: Decimal = Decimal(0)
    currency: str = "USD"
    reset_at: datetime | None = None
    reset_balance: Decimal | None = None
    reset_equity: Decimal | None = None


@dataclass(frozen=True, slots=True)
class PositionState:
    """An open position as the broker reports it; `sl`/`tp` 0 means none."""

    identifier: int
    ticket: int
    symbol: str
    side: Side
    volume: Decimal
    price_open: Decimal
    sl: Decimal = Decimal(0)
    tp: Decimal = Decimal(0)
    profit: Decimal = Decimal(0)
    swap: Decimal = Decimal(0)
    magic: int = 0
    comment: str = ""
    reason: str = "expert"


@dataclass(frozen=True, slots=True)
class ClosedPosition:
    """A position the broker closed, with the close deal's price, reason and realized P/L."""

    position: PositionState
    close_price: Decimal
    deal_reason: str
    realized: Decimal


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """A pre-trade request: would this order be allowed?"""

    symbol: str
    side: Side
    volume: Decimal
    price: Decimal
    sl: Decimal = Decimal(0)
    tp: Decimal = Decimal(0)
    client_order_id: str = ""


@dataclass(frozen=True, slots=True)
class MarketEvidence:
    """The last tick of the symbol as the engine found it; all None: no tick found.

    `previous_*` is the tick before it, read only when the symbol has `max_gap_pips`.
    """

    symbol: str
    bid: Decimal | None = None
    ask: Decimal | None = None
    tick_time: datetime | None = None
    previous_bid: Decimal | None = None
    previous_ask: Decimal | None = None
    previous_time: datetime | None = None


@dataclass(frozen=True, slots=True)
class PreTradeAnswer:
    """The pre-trade verdict: reasons are short machine-readable strings with numbers."""

    approved: bool
    reasons: tuple[str, ...] = ()
    limits: dict[str, Any] = field(default_factory=dict)
