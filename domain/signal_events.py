"""The decisions on a strategy's signal for one account (issue 17), and how each evolves state.

Numbers are decimal strings, times ISO strings: the read side (projections) reads them as
written. The account keeps one entry per signal id in `_signals` (see domain/signal_rules.py);
`first` is the answer the submitter got, the one a repeated signal id answers again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from domain.events import RiskEvent
from domain.signals import signal_command_id

if TYPE_CHECKING:
    from domain.account import AccountRisk


def _book(aggregate: AccountRisk) -> dict[str, dict[str, Any]]:
    signals: dict[str, dict[str, Any]] = aggregate.__dict__.setdefault("_signals", {})
    return signals


def _entry(aggregate: AccountRisk, signal_id: str) -> dict[str, Any]:
    return _book(aggregate)[signal_id]


def _index(aggregate: AccountRisk, name: str) -> dict[str, str]:
    """`_signals_awaiting` (signal id -> expires_at) or `_signals_approved` (command id ->
    signal id): what each fact and check looks up without scanning every signal."""
    index: dict[str, str] = aggregate.__dict__.setdefault(name, {})
    return index


AWAITING = "_signals_awaiting"
APPROVED = "_signals_approved"


def _settle(aggregate: AccountRisk, signal_id: str, command_id: str | None = None) -> None:
    _index(aggregate, AWAITING).pop(signal_id, None)
    if command_id is not None:
        _index(aggregate, APPROVED).pop(command_id, None)


def _answer_once(entry: dict[str, Any], status: str, reason: str = "") -> None:
    if entry.get("first") is None:
        entry["first"] = {"status": status, "reason": reason}


class SignalReceived(RiskEvent):
    """A signal for this account; its sizing inputs and when an approval would expire."""

    signal_id: str
    strategy: str
    symbol: str
    side: str
    order_type: str
    price: str | None
    volume: str | None
    risk_percent: str | None
    sl: str | None
    tp: str | None
    comment: str
    received_at: str
    expires_at: str
    approval: str
    actor: str
    reference_price: str | None
    """The price sizing and pre-trade use: `price`, or the last tick's ask (buy) / bid."""
    volume_min: str
    volume_step: str
    volume_max: str

    def apply(self, aggregate: AccountRisk) -> None:
        _book(aggregate)[self.signal_id] = {
            "status": "received",
            "approval_id": f"{self.signal_id}:{self.account_id}",
            "symbol": self.symbol,
            "side": self.side,
            "order_type": self.order_type,
            "price": self.price,
            "reference_price": self.reference_price,
            "sl": self.sl,
            "tp": self.tp,
            "comment": self.comment,
            "expires_at": self.expires_at,
            "approval": self.approval,
            "volume": None,
            "reason": "",
            "first": None,
        }


class SignalSized(RiskEvent):
    """The volume for this account; `basis` holds what risk_percent sizing read (strings)."""

    signal_id: str
    volume: str
    sizing: str
    basis: dict[str, str]

    def apply(self, aggregate: AccountRisk) -> None:
        entry = _entry(aggregate, self.signal_id)
        entry.update(status="sized", volume=self.volume)


class ApprovalRequested(RiskEvent):
    signal_id: str
    approval_id: str

    def apply(self, aggregate: AccountRisk) -> None:
        entry = _entry(aggregate, self.signal_id)
        entry["status"] = "awaiting_approval"
        _answer_once(entry, "awaiting_approval")
        _index(aggregate, AWAITING)[self.signal_id] = entry["expires_at"]


class Approved(RiskEvent):
    """Approved by `actor` (`auto`: the strategy's policy); pre-trade follows."""

    signal_id: str
    approval_id: str
    actor: str
    reason: str

    def apply(self, aggregate: AccountRisk) -> None:
        _entry(aggregate, self.signal_id).update(status="approved", reason=self.reason)
        _settle(aggregate, self.signal_id)
        command_id = signal_command_id(self.signal_id, self.account_id)
        _index(aggregate, APPROVED)[command_id] = self.signal_id


class Rejected(RiskEvent):
    """Rejected by `actor`: a person, or `risk` (sizing refused, pre-trade denied)."""

    signal_id: str
    approval_id: str
    actor: str
    reason: str

    def apply(self, aggregate: AccountRisk) -> None:
        entry = _entry(aggregate, self.signal_id)
        entry.update(status="rejected", reason=self.reason)
        _answer_once(entry, "rejected", self.reason)
        _settle(aggregate, self.signal_id, signal_command_id(self.signal_id, self.account_id))


class SignalExpired(RiskEvent):
    """Still awaiting approval at the first fact after `expires_at`."""

    signal_id: str
    approval_id: str
    reason: str

    def apply(self, aggregate: AccountRisk) -> None:
        entry = _entry(aggregate, self.signal_id)
        entry.update(status="expired", reason=self.reason)
        _answer_once(entry, "expired", self.reason)
        _settle(aggregate, self.signal_id)


class OrderPlaced(RiskEvent):
    """Approved and passed pre-trade: `PlaceOrder` `command_id` goes to the agent ("sent")."""

    signal_id: str
    approval_id: str
    command_id: str
    symbol: str
    side: str
    volume: str
    order_type: str
    price: str | None
    sl: str | None
    tp: str | None

    def apply(self, aggregate: AccountRisk) -> None:
        entry = _entry(aggregate, self.signal_id)
        entry.update(status="sent", command_id=self.command_id)
        _answer_once(entry, "sent")
        _settle(aggregate, self.signal_id, self.command_id)
        aggregate._commands[self.command_id] = {
            "kind": "place_order",
            "signal_id": self.signal_id,
            "approval_id": self.approval_id,
            "symbol": self.symbol,
            "side": self.side,
            "volume": self.volume,
            "order_type": self.order_type,
            "price": self.price,
            "sl": self.sl,
            "tp": self.tp,
            "reason": f"signal {self.signal_id}",
            "actor": "risk",
        }


SIGNAL_EVENTS = (
    SignalReceived,
    SignalSized,
    ApprovalRequested,
    Approved,
    Rejected,
    SignalExpired,
    OrderPlaced,
)
