"""Recorded decisions that were made on an input other than a fact, and how to redo them.

Config (`AccountRegistered`, `LimitsChanged`), pre-trade (`OrderApproved`, `OrderDenied`),
operator control (`TradingStateChanged` by an actor other than risk), a signal
(`SignalReceived`), a person's approval (`Approved`/`Rejected` by an actor other than
`auto` and `risk`) and news calendars (`CalendarImported`) each record what they were
decided on; audit redoes them at the same point of the fact log. The pre-trade check of an
approved signal is an `OrderApproved`/`OrderDenied` like any other: the decider tells it
by the signal's command id.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Final

from domain import FactRef, InvalidControl, MarketEvidence, OrderRequest, RiskRules
from domain import events as ev
from domain import news_events as nev
from domain import signal_events as sev
from domain.news import Calendar
from domain.signals import AUTO_ACTOR, Signal, VolumeSpec
from domain.trading_state import CONTROL_ACTIONS, ControlAction
from engine.messages import ApprovalIn, CalendarIn, CheckIn, ConfigIn, ControlIn, Message, SignalIn

RISK_ACTOR: Final = "risk"


def is_input(event: Any) -> bool:
    """Whether `event` records a decision on an input other than a fact."""
    match event:
        case ev.TradingStateChanged():
            return bool(event.actor != RISK_ACTOR)
        case (
            ev.AccountRegistered() | ev.LimitsChanged() | ev.OrderApproved() | ev.OrderDenied()
            | ev.DayRebased() | sev.SignalReceived()
        ):  # fmt: skip
            return True
        case sev.Approved() | sev.Rejected():
            return event.actor not in (AUTO_ACTOR, RISK_ACTOR)
        case nev.CalendarImported():
            return True
        case _:
            return False


def recorded_input(event: Any) -> Message | None:  # noqa: PLR0911 - one return per input
    """The message `event` was decided on, to decide it again (None: not an input)."""
    at = FactRef(event.seq, event.timestamp)
    match event:
        case ev.AccountRegistered():
            return ConfigIn(event.account_id, RiskRules.from_dict(event.rules), at)
        case ev.LimitsChanged():
            rules = RiskRules.from_dict(event.rules)
            return ConfigIn(event.account_id, rules, at, event.__dict__.get("actor"))
        case ev.OrderApproved() | ev.OrderDenied():
            return CheckIn(event.account_id, _request(event.request), _market(event.market), at)
        case ev.TradingStateChanged() if event.actor != RISK_ACTOR:
            action, reason = _control_of(event.reason)
            return ControlIn(event.account_id, action, reason, event.actor, at)
        case ev.DayRebased():  # the reset that follows it is recorded on its own
            return ControlIn(event.account_id, "reset", event.reason, event.actor, at, rebase=True)
        case sev.SignalReceived() | sev.Approved() | sev.Rejected():
            return _signal_input(event, at)
        case nev.CalendarImported():  # its digest is recomputed from the recorded events
            calendar = Calendar.from_plain(event.events, event.source)
            return CalendarIn(event.account_id, calendar, event.actor, at)
        case _:
            return None


def _signal_input(
    event: sev.SignalReceived | sev.Approved | sev.Rejected, at: FactRef
) -> SignalIn | ApprovalIn | None:
    match event:
        case sev.SignalReceived():
            return SignalIn(event.account_id, _signal(event), at)
        case sev.Approved() | sev.Rejected() if event.actor not in (AUTO_ACTOR, RISK_ACTOR):
            approve = isinstance(event, sev.Approved)
            return ApprovalIn(
                event.account_id, event.signal_id, approve, event.actor, event.reason, at
            )
        case _:
            return None


def _signal(event: sev.SignalReceived) -> Signal:
    received = datetime.fromisoformat(event.received_at)
    expires = datetime.fromisoformat(event.expires_at)
    return Signal(
        signal_id=event.signal_id,
        strategy=event.strategy,
        symbol=event.symbol,
        side=event.side,  # type: ignore[arg-type]
        order_type=event.order_type,  # type: ignore[arg-type]
        price=_decimal(event.price),
        volume=_decimal(event.volume),
        risk_percent=_decimal(event.risk_percent),
        sl=_decimal(event.sl),
        tp=_decimal(event.tp),
        comment=event.comment,
        approval=event.approval,  # type: ignore[arg-type]
        actor=event.actor,
        expires_after_seconds=(expires - received).total_seconds(),
        reference_price=_decimal(event.reference_price),
        volumes=VolumeSpec(
            Decimal(event.volume_min), Decimal(event.volume_step), Decimal(event.volume_max)
        ),
    )


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
