"""Requests and replies of the `mtq-risk` service (`mtq.risk.check`, `mtq.risk.control`)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from bus.schemas.base import AccountId, Message, Side, Symbol
from domain.trading_state import ControlAction, TradingState

PositiveVolume = Annotated[float, msgspec.Meta(gt=0, description="lots")]
Price = Annotated[float, msgspec.Meta(ge=0)]


class RiskCheckRequest(Message, frozen=True, kw_only=True):
    """May this order be sent? Approved orders are recorded as `OrderApproved`."""

    account_id: AccountId
    symbol: Symbol
    side: Side
    volume: PositiveVolume
    price: Price
    sl: Price = 0.0
    tp: Price = 0.0
    client_order_id: str = ""


class RiskCheckReply(Message, frozen=True, kw_only=True):
    account_id: AccountId
    client_order_id: str = ""
    approved: bool
    reasons: tuple[str, ...] = ()
    limits: dict[str, Any] = msgspec.field(default_factory=dict)
    trading_state: TradingState
    decision: str = ""
    """Where the decision is recorded: `<aggregate id>/<version>`."""


class RiskControlRequest(Message, frozen=True, kw_only=True):
    """Change an account's trading state by hand; the actor is recorded."""

    account_id: AccountId
    action: ControlAction
    reason: str
    actor: str = "operator"
    rebase: bool = False
    """With `reset` while equity is beyond the daily floor: anchor the day at the balance."""


class RiskControlReply(Message, frozen=True, kw_only=True):
    account_id: AccountId
    trading_state: TradingState
    changed: bool
    command_id: str = ""


class RiskShowRequest(Message, frozen=True, kw_only=True):
    account_id: AccountId


class RiskShowReply(Message, frozen=True, kw_only=True):
    account_id: AccountId
    summary: dict[str, Any]


class ServiceError(msgspec.Struct, frozen=True, kw_only=True):
    """Body of an error reply (also in the NATS micro error headers)."""

    code: int
    message: str


RiskRequest = RiskCheckRequest | RiskControlRequest | RiskShowRequest
