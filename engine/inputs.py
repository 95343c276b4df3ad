"""Recorded decisions that were made on an input other than a fact, and how to redo them.

Config (`AccountRegistered`, `LimitsChanged`), pre-trade (`OrderApproved`, `OrderDenied`)
and operator control (`TradingStateChanged` by an actor other than risk) each record what
they were decided on; audit redoes them at the same point of the fact log.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Final

from domain import FactRef, InvalidControl, MarketEvidence, OrderRequest, RiskRules
from domain.trading_state import CONTROL_ACTIONS, ControlAction
from engine.decider import Decider

RISK_ACTOR: Final = "risk"
INPUT_TYPES: Final = frozenset(
    {
        "AccountRegistered",
        "LimitsChanged",
        "OrderApproved",
        "OrderDenied",
        "TradingStateChanged",
        "DayRebased",
    }
)


def is_input(event: Any) -> bool:
    name = type(event).__name__
    if name == "TradingStateChanged":
        return bool(event.actor != RISK_ACTOR)
    return name in INPUT_TYPES


def redo_input(decider: Decider, event: Any) -> None:
    """Make the decision `event` records again, from what it recorded."""
    at = FactRef(event.seq, event.timestamp)
    name = type(event).__name__
    if name in ("AccountRegistered", "LimitsChanged"):
        decider.configure(event.account_id, RiskRules.from_dict(event.rules), at)
        return
    account = decider.accounts.get(event.account_id)
    if account is None:
        return
    if name in ("OrderApproved", "OrderDenied"):
        account.check_order(_request(event.request), _market(event.market), at)
    elif name == "TradingStateChanged":
        action, reason = _control_of(event.reason)
        account.control(action, reason, event.actor, at)
    elif name == "DayRebased":  # the reset that follows it is recorded on its own
        account.control("reset", event.reason, event.actor, at, rebase=True)
    else:
        return
    decider.touch(account)


def _control_of(recorded_reason: str) -> tuple[ControlAction, str]:
    """Split a control's recorded reason, `<action>: <reason>` or `<action>`."""
    action, _, reason = recorded_reason.partition(": ")
    if action not in CONTROL_ACTIONS:
        raise InvalidControl(f"recorded control reason {recorded_reason!r} names no action")
    return action, reason


def _request(data: dict[str, Any]) -> OrderRequest:
    return OrderRequest(
        symbol=data["symbol"],
        side=data["side"],
        volume=Decimal(str(data["volume"])),
        price=Decimal(str(data["price"])),
        sl=Decimal(str(data.get("sl", 0))),
        tp=Decimal(str(data.get("tp", 0))),
        client_order_id=str(data.get("client_order_id", "")),
    )


def _market(data: dict[str, Any] | None) -> MarketEvidence | None:
    if data is None:
        return None
    return MarketEvidence(
        symbol=data["symbol"],
        bid=_decimal(data.get("bid")),
        ask=_decimal(data.get("ask")),
        tick_time=_time(data.get("tick_time")),
        previous_bid=_decimal(data.get("previous_bid")),
        previous_ask=_decimal(data.get("previous_ask")),
        previous_time=_time(data.get("previous_time")),
    )


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else value
