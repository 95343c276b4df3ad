"""Wire contracts: one frozen msgspec Struct per fact and command (DESIGN §3)."""

from bus.schemas.commands import CloseAll, ClosePosition, Command, SetTradingState
from bus.schemas.facts import (
    AccountSnapshot,
    AgentHeartbeat,
    AgentLifecycleChanged,
    Fact,
    OrderExecuted,
    OrderFact,
    OrderRejected,
    PositionClosed,
    PositionFact,
    PositionModified,
    PositionOpened,
    TickReceived,
)
from bus.schemas.risk import (
    RiskCheckReply,
    RiskCheckRequest,
    RiskControlReply,
    RiskControlRequest,
    RiskShowReply,
    RiskShowRequest,
)

__all__ = [
    "AccountSnapshot",
    "AgentHeartbeat",
    "AgentLifecycleChanged",
    "CloseAll",
    "ClosePosition",
    "Command",
    "Fact",
    "OrderExecuted",
    "OrderFact",
    "OrderRejected",
    "PositionClosed",
    "PositionFact",
    "PositionModified",
    "PositionOpened",
    "RiskCheckReply",
    "RiskCheckRequest",
    "RiskControlReply",
    "RiskControlRequest",
    "RiskShowReply",
    "RiskShowRequest",
    "SetTradingState",
    "TickReceived",
]
