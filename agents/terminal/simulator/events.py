"""The simulator's own record of what happened, for comparison with what an agent published."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agents.terminal.mt5.structures import Tick


@dataclass(frozen=True, slots=True)
class TickGenerated:
    symbol: str
    tick: Tick

    @property
    def time_msc(self) -> int:
        return self.tick.time_msc


@dataclass(frozen=True, slots=True)
class PositionOpened:
    time_msc: int
    ticket: int
    symbol: str
    type: int
    volume: float
    price_open: float
    sl: float
    tp: float
    magic: int
    reason: int
    comment: str
    deal: int


@dataclass(frozen=True, slots=True)
class PositionModified:
    time_msc: int
    ticket: int
    sl: float
    tp: float


@dataclass(frozen=True, slots=True)
class PositionClosed:
    """A (possibly partial) close; `remaining_volume` is 0 when the position is gone."""

    time_msc: int
    ticket: int
    symbol: str
    type: int
    volume: float
    price_close: float
    profit: float
    deal_reason: int
    deal: int
    remaining_volume: float


@dataclass(frozen=True, slots=True)
class PositionNetted:
    """On a netting account, a deal added to a position (`entry` DEAL_ENTRY_IN) or reversed
    it (DEAL_ENTRY_INOUT: `ticket` is the new ticket, `type` the new side)."""

    time_msc: int
    ticket: int
    identifier: int
    symbol: str
    entry: int
    type: int
    volume: float
    price: float
    deal: int


@dataclass(frozen=True, slots=True)
class PositionsRolledOver:
    """Swap charged at the rollover; `reopened` holds (old ticket, new ticket) pairs."""

    time_msc: int
    reopened: tuple[tuple[int, int], ...]


@dataclass(frozen=True, slots=True)
class FaultStarted:
    time_msc: int
    kind: str
    symbol: str | None


@dataclass(frozen=True, slots=True)
class FaultEnded:
    time_msc: int
    kind: str
    symbol: str | None


@dataclass(frozen=True, slots=True)
class OrderHandled:
    """An `order_send` call: its request and retcode (None when the call returned None)."""

    time_msc: int
    request: dict[str, Any]
    retcode: int | None


SimEvent = (
    TickGenerated
    | PositionOpened
    | PositionModified
    | PositionClosed
    | PositionNetted
    | PositionsRolledOver
    | FaultStarted
    | FaultEnded
    | OrderHandled
)
