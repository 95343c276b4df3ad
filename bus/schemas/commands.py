"""Commands to agents on `cmd.<account>.<kind>`; `command_id` is the Nats-Msg-Id."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from bus.schemas.base import (
    AccountId,
    CommandId,
    Message,
    Side,
    Symbol,
    Ticket,
    TradingState,
    Volume,
)

OrderType = Literal["market", "limit", "stop"]
Price = Annotated[float, msgspec.Meta(gt=0, description="price in the symbol's quote currency")]


class ClosePosition(Message, frozen=True, kw_only=True):
    """Close one position, wholly (volume None) or partly."""

    command_id: CommandId
    account_id: AccountId
    ticket: Ticket
    volume: Volume | None = None
    reason: str = ""
    actor: str = "risk"
    issued_at: datetime | None = None


class CloseAll(Message, frozen=True, kw_only=True):
    """Close every open position, or every one on `symbol`."""

    command_id: CommandId
    account_id: AccountId
    symbol: Symbol | None = None
    reason: str = ""
    actor: str = "risk"
    issued_at: datetime | None = None


class SetTradingState(Message, frozen=True, kw_only=True):
    command_id: CommandId
    account_id: AccountId
    state: TradingState
    reason: str = ""
    actor: str = "risk"
    issued_at: datetime | None = None


class PlaceOrder(Message, frozen=True, kw_only=True):
    """Open a position (market) or place a pending order (limit/stop at `price`).

    The agent sends it with comment `mtq-<first 8 characters of command_id>` and looks for
    that comment in positions, orders and deal history before any retry, so an order that
    executed and lost its answer is never sent twice.
    """

    command_id: CommandId
    account_id: AccountId
    symbol: Symbol
    side: Side
    volume: Annotated[float, msgspec.Meta(gt=0, description="lots")]
    order_type: OrderType = "market"
    price: Price | None = None
    sl: Price | None = None
    tp: Price | None = None
    deviation_points: Annotated[int, msgspec.Meta(ge=0)] = 20
    expires_at: datetime | None = None
    signal_id: str | None = None
    approval_id: str | None = None
    reason: str = ""
    actor: str = "risk"
    issued_at: datetime | None = None


class ModifyPosition(Message, frozen=True, kw_only=True):
    """Set a position's SL and TP (None removes it)."""

    command_id: CommandId
    account_id: AccountId
    ticket: Ticket
    sl: Price | None = None
    tp: Price | None = None
    reason: str = ""
    actor: str = "risk"
    issued_at: datetime | None = None


Command = ClosePosition | CloseAll | SetTradingState | PlaceOrder | ModifyPosition
"""Everything an agent executes, one kind per subject (`bus.commands.command_kind`)."""
