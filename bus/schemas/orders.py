"""Requests and replies of the `mtq-orders` service: signals and their approvals (issue 17).

`mtq.orders.submit.<identity>` takes a `SignalSubmit`, `mtq.orders.approve.<identity>` an
`ApprovalSubmit`; the identity in the subject is who is recorded (the `api` identity names
the HTTP token in `actor`, recorded as `api:<token>`).
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from bus.schemas.base import AccountId, Message, Side, Symbol
from bus.schemas.commands import OrderType

SignalId = Annotated[
    str,
    msgspec.Meta(
        pattern="^[A-Za-z0-9_.:-]{1,128}$",
        description="the strategy's id of the signal: letters, digits, '_', '.', ':', '-'",
    ),
]
StrategyName = Annotated[str, msgspec.Meta(pattern="^[A-Za-z0-9_-]{1,64}$")]
PositivePrice = Annotated[float, msgspec.Meta(gt=0)]
SignalStatus = Literal["awaiting_approval", "approved", "sent", "rejected", "expired"]
Decision = Literal["approve", "reject"]


class SignalSubmit(Message, frozen=True, kw_only=True):
    """A strategy's signal: one order, fanned out to its accounts (or those named here)."""

    signal_id: SignalId
    strategy: StrategyName
    accounts: tuple[AccountId, ...] | None = None
    """A subset of the strategy's accounts; None: all of them."""
    symbol: Symbol
    side: Side
    order_type: OrderType = "market"
    price: PositivePrice | None = None
    """Required for limit and stop orders."""
    volume: Annotated[float, msgspec.Meta(gt=0, description="lots")] | None = None
    risk_percent: Annotated[float, msgspec.Meta(gt=0, le=100)] | None = None
    sl: PositivePrice | None = None
    tp: PositivePrice | None = None
    comment: Annotated[str, msgspec.Meta(max_length=200)] = ""
    actor: str = ""
    """Who asked, as the submitter says (the api identity: its token name)."""


class AccountAnswer(msgspec.Struct, frozen=True, kw_only=True):
    account_id: AccountId
    status: SignalStatus
    volume: str | None = None
    approval_id: str = ""
    command_id: str = ""
    reason: str = ""


class SignalReply(Message, frozen=True, kw_only=True):
    signal_id: SignalId
    duplicate: bool = False
    """True: the signal id was seen before; this is the first answer again, nothing new."""
    accounts: tuple[AccountAnswer, ...] = ()


class ApprovalSubmit(Message, frozen=True, kw_only=True):
    signal_id: SignalId
    account_id: AccountId
    decision: Decision
    reason: str = ""
    actor: str = ""
    """A note only: the recorded actor is the identity of the subject (`api:<token>`)."""


class ApprovalReply(Message, frozen=True, kw_only=True):
    signal_id: SignalId
    account_id: AccountId
    approval_id: str
    status: SignalStatus
    actor: str = ""
    command_id: str = ""
    reason: str = ""
