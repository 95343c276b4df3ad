"""What the decider takes: one typed message per kind of input (`Decider.handle`).

A fact from `MT5`; a pre-trade check or an operator's control as the `mtq-risk` service
received them; a signal or an approval as `mtq-orders` received them; a config the engine
applies; and a decision recorded on such an input, which the audit hands back to be decided
again (engine/inputs.py turns it into the others).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from domain import FactRef, MarketEvidence, OrderRequest, RiskRules
from domain.news import Calendar
from domain.signals import Signal
from domain.trading_state import ControlAction


@dataclass(frozen=True, slots=True)
class FactIn:
    seq: int
    subject: str
    data: bytes
    stored_at: datetime | None = None
    """When JetStream stored it: the reference of the clock-skew limit."""


@dataclass(frozen=True, slots=True)
class CheckIn:
    account_id: str
    order: OrderRequest
    market: MarketEvidence | None
    at: FactRef


@dataclass(frozen=True, slots=True)
class ControlIn:
    account_id: str
    action: ControlAction
    reason: str
    actor: str
    at: FactRef
    rebase: bool = False


@dataclass(frozen=True, slots=True)
class ConfigIn:
    account_id: str
    rules: RiskRules
    at: FactRef
    actor: str | None = None
    """Who reloaded the config (None: the config applied at start)."""


@dataclass(frozen=True, slots=True)
class SignalIn:
    """A strategy's signal for one account, at the account's last fact time."""

    account_id: str
    signal: Signal
    at: FactRef


@dataclass(frozen=True, slots=True)
class ApprovalIn:
    """A person's decision on a signal awaiting approval; `actor` is bound by the subject."""

    account_id: str
    signal_id: str
    approve: bool
    actor: str
    reason: str
    at: FactRef


@dataclass(frozen=True, slots=True)
class CalendarIn:
    """A news calendar put in force on one account (`mtq news import`, the config's file)."""

    account_id: str
    calendar: Calendar
    actor: str
    at: FactRef


Request = CheckIn | ControlIn | SignalIn | ApprovalIn
"""What the services ask the engine to decide (`RiskEngine.request`)."""
Message = FactIn | CheckIn | ControlIn | ConfigIn | SignalIn | ApprovalIn | CalendarIn
