"""Signals on `AccountRisk` (issue 17): received, sized, approved, pre-trade checked, placed.

Three inputs decide them, each recorded so the audit redoes it: `receive_signal`
(SignalReceived, then SignalSized and Approved by the `auto` policy or ApprovalRequested;
Rejected by `risk` when sizing refuses), `decide_approval` (a person's Approved or
Rejected), and `place_signal`, the pre-trade check of an approved signal recorded as
`OrderApproved`/`OrderDenied` with the command id as `client_order_id`, then OrderPlaced (the
PlaceOrder command) or Rejected by `risk`. An approval still awaited at the first snapshot or
heartbeat after `expires_at` expires (`expire_signals`, SignalExpired).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from domain import signal_events as sev
from domain.account_base import RISK_ACTOR, AccountBase
from domain.errors import RiskError
from domain.group import GroupView
from domain.inputs import FactRef, MarketEvidence, OrderRequest, PreTradeAnswer
from domain.signals import (
    AUTO_ACTOR,
    Refused,
    Signal,
    Sized,
    approval_id,
    expired,
    signal_command_id,
    size_fixed,
    size_risk_percent,
    stop_errors,
)


class UnknownSignal(RiskError):
    """An approval or placement of a signal this account never received."""


class SignalRules(AccountBase):
    if TYPE_CHECKING:

        def check_order(
            self,
            request: OrderRequest,
            market: MarketEvidence | None,
            at: FactRef,
            group: GroupView | None = None,
        ) -> PreTradeAnswer: ...

    @property
    def signals(self) -> dict[str, dict[str, Any]]:
        """Every signal this account received, by signal id (read-only use)."""
        found: dict[str, dict[str, Any]] = self.__dict__.get("_signals", {})
        return found

    def signal(self, signal_id: str) -> dict[str, Any] | None:
        return self.signals.get(signal_id)

    def receive_signal(self, signal: Signal, at: FactRef) -> bool:
        """Record a signal and size it; False (nothing recorded) when its id was seen."""
        if signal.signal_id in self.signals:
            return False
        ident = approval_id(signal.signal_id, self.account_id)
        expires = at.time + timedelta(seconds=signal.expires_after_seconds)
        self._record(
            sev.SignalReceived,
            at,
            signal_id=signal.signal_id,
            strategy=signal.strategy,
            symbol=signal.symbol,
            side=signal.side,
            order_type=signal.order_type,
            price=_text(signal.price),
            volume=_text(signal.volume),
            risk_percent=_text(signal.risk_percent),
            sl=_text(signal.sl),
            tp=_text(signal.tp),
            comment=signal.comment,
            received_at=at.time.isoformat(),
            expires_at=expires.isoformat(),
            approval=signal.approval,
            actor=signal.actor,
            reference_price=_text(signal.reference_price),
            volume_min=str(signal.volumes.volume_min),
            volume_step=str(signal.volumes.volume_step),
            volume_max=str(signal.volumes.volume_max),
        )
        sized = self._size(signal)
        match sized:
            case Refused(reason=reason):
                self._reject(signal.signal_id, ident, RISK_ACTOR, f"sizing: {reason}", at)
            case Sized(volume=volume, sizing=sizing, basis=basis):
                self._record(
                    sev.SignalSized,
                    at,
                    signal_id=signal.signal_id,
                    volume=str(volume),
                    sizing=sizing,
                    basis=basis,
                )
                if signal.approval == "auto":
                    self._approve(signal.signal_id, ident, AUTO_ACTOR, "approval: auto", at)
                else:
                    self._record(
                        sev.ApprovalRequested, at, signal_id=signal.signal_id, approval_id=ident
                    )
        return True

    def _size(self, signal: Signal) -> Sized | Refused:
        wrong = stop_errors(signal.side, signal.reference_price, signal.sl, signal.tp)
        if wrong:
            return Refused(wrong)
        if signal.order_type == "market" and signal.reference_price is None:
            return Refused(f"no tick of {signal.symbol} to price a market order")
        if signal.volume is not None:
            return size_fixed(signal.volume, signal.volumes)
        spec = self.rules.symbol(signal.symbol)
        if spec is None or signal.risk_percent is None:
            return Refused(f"symbol {signal.symbol} unknown: no tick value to size by risk")
        return size_risk_percent(
            self._equity,
            signal.risk_percent,
            signal.reference_price,
            signal.sl,
            spec.tick_value,
            spec.tick_size,
            signal.volumes,
        )

    def decide_approval(
        self, signal_id: str, approve: bool, actor: str, reason: str, at: FactRef
    ) -> bool:
        """A person's approval or rejection; False (nothing recorded) unless it is awaited.

        Late (after `expires_at` by the facts' time) is not awaited any more: it records
        nothing, and the first fact after it records SignalExpired.
        """
        entry = self.signal(signal_id)
        if entry is None:
            raise UnknownSignal(f"account {self.account_id}: no signal {signal_id!r}")
        if entry["status"] != "awaiting_approval" or expired(entry["expires_at"], at.time):
            return False
        ident = approval_id(signal_id, self.account_id)
        if approve:
            self._approve(signal_id, ident, actor, reason, at)
        else:
            self._reject(signal_id, ident, actor, reason, at)
        return True

    def placement(self, command_id: str) -> str | None:
        """The signal id an approved, not yet placed signal has under `command_id`."""
        approved: dict[str, str] = self.__dict__.get(sev.APPROVED, {})
        return approved.get(command_id)

    def signal_order(self, signal_id: str, price: Decimal) -> OrderRequest:
        """The pre-trade request of an approved signal at `price` (the current one)."""
        entry = self.signal(signal_id)
        if entry is None or entry["volume"] is None:
            raise UnknownSignal(f"account {self.account_id}: no sized signal {signal_id!r}")
        return OrderRequest(
            symbol=entry["symbol"],
            side=entry["side"],
            volume=Decimal(entry["volume"]),
            price=price,
            sl=Decimal(entry["sl"] or 0),
            tp=Decimal(entry["tp"] or 0),
            client_order_id=signal_command_id(signal_id, self.account_id),
        )

    def place_signal(
        self,
        request: OrderRequest,
        market: MarketEvidence | None,
        at: FactRef,
        group: GroupView | None = None,
    ) -> PreTradeAnswer:
        """Pre-trade check an approved signal, then OrderPlaced or Rejected by risk.

        The order is the signal's; only `request.price` (the price now) is the caller's.
        """
        signal_id = self.placement(request.client_order_id)
        if signal_id is None:
            raise UnknownSignal(f"account {self.account_id}: nothing to place as {request}")
        entry = self.signals[signal_id]
        order = self.signal_order(signal_id, request.price)
        answer = self.check_order(order, market, at, group)
        ident = approval_id(signal_id, self.account_id)
        if not answer.approved:
            self._reject(
                signal_id, ident, RISK_ACTOR, "pre-trade: " + "; ".join(answer.reasons), at
            )
            return answer
        self._record(
            sev.OrderPlaced,
            at,
            signal_id=signal_id,
            approval_id=ident,
            command_id=order.client_order_id,
            symbol=order.symbol,
            side=order.side,
            volume=str(order.volume),
            order_type=entry["order_type"],
            price=entry["price"],
            sl=entry["sl"],
            tp=entry["tp"],
        )
        return answer

    def expire_signals(self, at: FactRef) -> None:
        """SignalExpired for every approval still awaited past its `expires_at`."""
        awaiting: dict[str, str] = self.__dict__.get(sev.AWAITING, {})
        late = [s for s, expires_at in awaiting.items() if expired(expires_at, at.time)]
        for signal_id in late:
            self._record(
                sev.SignalExpired,
                at,
                signal_id=signal_id,
                approval_id=approval_id(signal_id, self.account_id),
                reason=f"no approval by {awaiting[signal_id]}",
            )

    def _approve(self, signal_id: str, ident: str, actor: str, reason: str, at: FactRef) -> None:
        self._record(
            sev.Approved, at, signal_id=signal_id, approval_id=ident, actor=actor, reason=reason
        )

    def _reject(self, signal_id: str, ident: str, actor: str, reason: str, at: FactRef) -> None:
        self._record(
            sev.Rejected, at, signal_id=signal_id, approval_id=ident, actor=actor, reason=reason
        )


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)
