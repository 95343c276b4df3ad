"""Requests and replies of the `mtq-query` service (`mtq.query.status`, `.positions`, ...).

Requests are plain JSON objects (the `type` field may be left out); an empty body asks for
every account. Replies carry the read-model documents as JSON objects: their fields are
described in `projections/README.md`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from bus.schemas.base import AccountId, Message, Symbol

Limit = Annotated[int, msgspec.Meta(ge=1, le=10000, description="most rows to return")]
Time = Annotated[str, msgspec.Meta(description="ISO-8601 time (UTC when no offset)")]
PositionState = Literal["open", "closed", "all"]


class StatusQuery(Message, frozen=True, kw_only=True):
    """Status of one account (or every account)."""

    account: AccountId | None = None


class StatusReply(Message, frozen=True, kw_only=True):
    accounts: list[dict[str, Any]]
    projector: dict[str, Any] = msgspec.field(default_factory=dict)
    """Positions reached in MT5 and RISK, and events the projector could not apply."""


class PositionsQuery(Message, frozen=True, kw_only=True):
    account: AccountId | None = None
    state: PositionState = "open"
    symbol: str | None = None
    limit: Limit = 1000


class PositionsReply(Message, frozen=True, kw_only=True):
    positions: list[dict[str, Any]]


class ReconciliationQuery(Message, frozen=True, kw_only=True):
    account: AccountId | None = None
    status: tuple[str, ...] = ()
    """Only items with one of these statuses (empty: all)."""
    live: bool | None = None
    """True: only items that can still change; False: only finished ones."""
    history: bool = True
    limit: Limit = 1000


class ReconciliationReply(Message, frozen=True, kw_only=True):
    items: list[dict[str, Any]]
    counts: dict[str, int] = msgspec.field(default_factory=dict)
    """Items per status (of the items returned)."""


class RiskQuery(Message, frozen=True, kw_only=True):
    account: AccountId | None = None
    kinds: tuple[str, ...] = ()
    """Only events of these decision types (empty: all kept ones)."""
    since: Time | None = None
    limit: Limit = 100


class RiskEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One kept decision of an account (a row of `proj_risk_events`)."""

    account_id: AccountId
    notification_id: int
    type: str
    time: str
    decision: dict[str, Any]


class RiskReply(Message, frozen=True, kw_only=True):
    accounts: list[dict[str, Any]]
    events: list[RiskEvent]


class EquityQuery(Message, frozen=True, kw_only=True):
    account: AccountId
    since: Time | None = None
    until: Time | None = None
    limit: Limit = 1440


class Ohlc(msgspec.Struct, frozen=True, kw_only=True):
    open: float
    high: float
    low: float
    close: float


class EquityMinute(msgspec.Struct, frozen=True, kw_only=True):
    """One minute of equity and balance (a row of `proj_equity`)."""

    minute: str
    equity: Ohlc
    balance: Ohlc
    samples: int


class EquityReply(Message, frozen=True, kw_only=True):
    account: AccountId
    bars: list[EquityMinute]


class AnalyticsQuery(Message, frozen=True, kw_only=True):
    """Statistics of one account over `[since, until)` (either open ended)."""

    account: AccountId
    since: Time | None = None
    until: Time | None = None


class AnalyticsReply(Message, frozen=True, kw_only=True):
    account: AccountId
    analytics: dict[str, Any]
    """`stats`, `by_symbol`, `by_strategy`, `daily`, `by_hour`, `drawdown_curve`: see
    projections/README.md ("Analytics")."""


class BarsQuery(Message, frozen=True, kw_only=True):
    """Candles of one symbol starting in `[since, until)`: the latest `limit`, oldest first."""

    symbol: Symbol
    tf: Literal["M1", "M5", "M15", "H1", "H4", "D1"] = "M1"
    account: AccountId | None = None
    """Whose ticks (None: the first account, by id, with bars of the symbol)."""
    since: Time | None = None
    until: Time | None = None
    limit: Limit = 1000


class BarsReply(Message, frozen=True, kw_only=True):
    symbol: Symbol
    tf: str
    account: AccountId
    bars: list[dict[str, Any]]
    """Per bar: `time`, `open`, `high`, `low`, `close`, `spread`, `tick_volume`,
    `real_volume`, `filled` (see projections/candles.py)."""


class RebuildRequest(Message, frozen=True, kw_only=True):
    """Ask the running projector to rebuild its views from the logs (admin only)."""


class RebuildReply(Message, frozen=True, kw_only=True):
    accepted: bool
    total: int = 0
    """Events the rebuild reads: MT5 and RISK up to their ends when it began."""
    reason: str = ""
    """Why it was not accepted (e.g. a rebuild is already running)."""


class RebuildProgress(Message, frozen=True, kw_only=True):
    """Published on `mtq.projector.rebuild.progress` while a rebuild runs, and once at its end."""

    done: int
    total: int
    finished: bool = False
    facts: int = 0
    decisions: int = 0
    error: str = ""
