"""Facts published by agents and the supervisor on `mt5.<account>.…`."""

from __future__ import annotations

from datetime import datetime

import msgspec

from bus.schemas.base import (
    AccountId,
    BreakerState,
    CommandId,
    DealReason,
    LifecycleState,
    Message,
    PositionReason,
    Side,
    Symbol,
    Ticket,
    TimeMsc,
    Volume,
)


class TickReceived(Message, frozen=True, kw_only=True):
    """A new quote for one symbol."""

    account_id: AccountId
    symbol: Symbol
    bid: float
    ask: float
    last: float = 0.0
    volume: float = 0.0
    time_msc: TimeMsc
    flags: int = 0
    server_time_msc: int = 0
    """The tick's time as the broker's server gives it (its wall clock; 0: not known)."""


class _Position(Message, frozen=True, kw_only=True):
    account_id: AccountId
    ticket: Ticket
    identifier: Ticket
    symbol: Symbol
    side: Side
    volume: Volume
    price_open: float
    price_current: float
    sl: float = 0.0
    tp: float = 0.0
    profit: float = 0.0
    swap: float = 0.0
    magic: int = 0
    comment: str = ""
    reason: PositionReason = "unknown"
    time_msc: TimeMsc
    server_time_msc: int = 0
    """`time_msc` as the broker's server gives it (its wall clock; 0: not known)."""


class PositionOpened(_Position, frozen=True, kw_only=True):
    """A position appeared in the terminal."""


class PositionModified(_Position, frozen=True, kw_only=True):
    """A position's volume, SL or TP changed (price moves alone are not facts)."""

    changed: tuple[str, ...] = ()


class PositionClosed(_Position, frozen=True, kw_only=True):
    """A position left the terminal, confirmed by its closing deal."""

    close_price: float
    deal_reason: DealReason = "unknown"
    deal_ticket: Ticket | None = None
    close_time_msc: TimeMsc
    server_close_time_msc: int = 0
    """`close_time_msc` as the broker's server gives it (0: not known)."""
    commission: float = 0.0
    """Commission of all the position's deals; `profit` is the realized P/L: profit +
    commission + swap + fee over them."""
    fee: float = 0.0


PositionFact = PositionOpened | PositionModified | PositionClosed


class AccountSnapshot(Message, frozen=True, kw_only=True):
    account_id: AccountId
    login: int
    balance: float
    equity: float
    margin: float
    margin_free: float
    margin_level: float
    profit: float
    currency: str
    server: str
    time: datetime
    reset_at: datetime | None = None
    """The UTC instant of the account's last daily reset, sent with the first snapshot
    after it (None: not this snapshot)."""
    reset_balance: float | None = None
    """The balance at `reset_at`, rebuilt from the terminal's deal history: today's balance
    minus the profit, commission, swap and fee of the deals since (None: not known)."""
    reset_equity: float | None = None
    """The equity at `reset_at` where the agent can rebuild it (None: not known)."""


class AgentHeartbeat(Message, frozen=True, kw_only=True):
    account_id: AccountId
    agent_id: str
    pid: int
    sequence: int = 0
    terminal_connected: bool
    breaker_state: BreakerState
    terminal_latency_ms: float
    last_tick_age_s: dict[str, float] = msgspec.field(default_factory=dict)
    events_buffered: int = 0
    outbox_full: bool = False
    outbox_dropped: int = 0
    last_error: str = ""
    time: datetime
    server_utc_offset_s: int | None = None
    """The broker server's clock minus UTC as the agent measured it (None: not yet)."""


class OrderExecuted(Message, frozen=True, kw_only=True):
    account_id: AccountId
    command_id: CommandId
    ticket: Ticket
    retcode: int
    comment: str = ""
    deal: Ticket | None = None
    position: Ticket | None = None
    volume: Volume = 0.0
    price: float = 0.0
    time: datetime


class OrderRejected(Message, frozen=True, kw_only=True):
    account_id: AccountId
    command_id: CommandId
    ticket: Ticket | None = None
    retcode: int | None = None
    comment: str
    time: datetime


OrderFact = OrderExecuted | OrderRejected


class AgentLifecycleChanged(Message, frozen=True, kw_only=True):
    account_id: AccountId
    agent_id: str
    state: LifecycleState
    previous_state: LifecycleState | None = None
    reason: str = ""
    restart_count: int = 0
    pid: int | None = None
    time: datetime


Fact = (
    TickReceived
    | PositionOpened
    | PositionModified
    | PositionClosed
    | AccountSnapshot
    | AgentHeartbeat
    | OrderExecuted
    | OrderRejected
    | AgentLifecycleChanged
)
"""Every fact on `mt5.<account>.…`: consumers dispatch on it with `match`."""
