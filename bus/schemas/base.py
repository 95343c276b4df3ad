"""Shared field types and the base Struct for every wire message."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

import msgspec

from bus.subjects import TOKEN_RULE
from domain.trading_state import TradingState

__all__ = ["TradingState"]  # the domain owns it; wire types use it

_TOKEN_PATTERN = "^[A-Za-z0-9_-]{1,64}$"

AccountId = Annotated[
    str, msgspec.Meta(pattern=_TOKEN_PATTERN, description=f"account id: {TOKEN_RULE}")
]
Symbol = Annotated[str, msgspec.Meta(pattern=_TOKEN_PATTERN, description=f"symbol: {TOKEN_RULE}")]
Ticket = Annotated[int, msgspec.Meta(ge=0, description="MT5 ticket number")]
Volume = Annotated[float, msgspec.Meta(ge=0, description="lots")]
CommandId = Annotated[
    str, msgspec.Meta(min_length=1, max_length=128, description="unique command id")
]
TimeMsc = Annotated[int, msgspec.Meta(ge=0, description="milliseconds since the Unix epoch")]

Side = Literal["buy", "sell"]
PositionReason = Literal["client", "mobile", "web", "expert", "unknown"]
DealReason = Literal[
    "client", "mobile", "web", "expert", "sl", "tp", "so", "rollover", "vmargin", "split", "unknown"
]
BreakerState = Literal["closed", "open", "half_open"]
LifecycleState = Literal[
    "CREATED", "STARTING", "RUNNING", "STOPPING", "STOPPED", "FAILED", "RESTARTING"
]


class Message(msgspec.Struct, frozen=True, kw_only=True, tag=True, tag_field="type"):
    """Base of every wire message: JSON object tagged with its type name in `type`."""


def utc_now() -> datetime:
    return datetime.now(UTC)


def from_msc(time_msc: int) -> datetime:
    return datetime.fromtimestamp(time_msc / 1000, UTC)
