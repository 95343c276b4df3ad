"""The risk domain: pure rules and the `AccountRisk` aggregate (stdlib and eventsourcing only)."""

from __future__ import annotations

from domain.account import AccountRisk, account_risk_id
from domain.errors import (
    DuplicatePosition,
    FactOutOfOrder,
    InvalidControl,
    InvalidFact,
    LimitsUnchanged,
    RiskError,
    UnknownPosition,
)
from domain.inputs import (
    AccountState,
    ClosedPosition,
    FactRef,
    MarketEvidence,
    OrderRequest,
    PositionState,
    PreTradeAnswer,
)
from domain.money import money
from domain.rules import (
    DailyLossRule,
    MaxLossRule,
    PositionLimits,
    RiskRules,
    SymbolSpec,
)
from domain.trading_state import ControlAction, TradingState

__all__ = [
    "AccountRisk",
    "AccountState",
    "ClosedPosition",
    "ControlAction",
    "DailyLossRule",
    "DuplicatePosition",
    "FactOutOfOrder",
    "FactRef",
    "InvalidControl",
    "InvalidFact",
    "LimitsUnchanged",
    "MarketEvidence",
    "MaxLossRule",
    "OrderRequest",
    "PositionLimits",
    "PositionState",
    "PreTradeAnswer",
    "RiskError",
    "RiskRules",
    "SymbolSpec",
    "TradingState",
    "UnknownPosition",
    "account_risk_id",
    "money",
]
