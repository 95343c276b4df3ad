"""Commands to agents on `cmd.<account>.<kind>`; `command_id` is the Nats-Msg-Id."""

from __future__ import annotations

from datetime import datetime

from bus.schemas.base import AccountId, CommandId, Message, Symbol, Ticket, TradingState, Volume


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


Command = ClosePosition | CloseAll | SetTradingState
