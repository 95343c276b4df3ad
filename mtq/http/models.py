"""Typed response models: what `/openapi.json` and `/docs` say every endpoint returns.

The read-model documents come from `projections/` as JSON; these models name their fields.
They allow extra fields, so a field the views add later still reaches clients (and shows in
the schema as an additional property) before it is described here.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

HealthState = Literal["HEALTHY", "DEGRADED", "UNHEALTHY", "UNKNOWN"]
TradingStateName = Literal["ACTIVE", "REDUCING", "HALTED"]


class _Doc(BaseModel):
    model_config = ConfigDict(extra="allow")


class Health(_Doc):
    status: HealthState
    reasons: list[str] = []
    details: list[str] = []


class Lifecycle(_Doc):
    state: str
    previous: str | None = None
    reason: str = ""
    restart_count: int = 0
    pid: int | None = None
    since: str


class Heartbeat(_Doc):
    time: str
    agent_id: str = ""
    pid: int | None = None
    terminal_connected: bool
    breaker_state: str
    terminal_latency_ms: float
    last_tick_age_s: dict[str, float] = {}
    max_tick_age_s: float | None = None
    events_buffered: int = 0
    outbox_full: bool = False
    last_error: str | None = None


class Money(_Doc):
    balance: float
    equity: float
    margin: float
    margin_free: float
    margin_level: float
    profit: float
    currency: str
    login: int | None = None
    server: str | None = None
    time: str


class Trading(_Doc):
    state: TradingStateName
    reason: str = ""
    actor: str = ""
    since: str | None = None
    holds: dict[str, Any] = {}


class Limit(_Doc):
    reference: float
    floor: float
    limit_percent: float | None = None
    kind: str | None = None


class Limits(_Doc):
    daily: Limit | None = None
    max: Limit | None = None


class Drawdown(_Doc):
    value: float | None = Field(None, description="loss from the reference, in money")
    budget: float = Field(description="reference minus floor")
    reference: float
    floor: float
    equity: float | None = None
    percent_used: float | None = Field(None, description="loss as a percentage of the budget")
    headroom: float | None = Field(None, description="equity minus floor")


class Drawdowns(_Doc):
    daily: Drawdown | None = None
    max: Drawdown | None = None


class PositionCounts(_Doc):
    open: int = 0
    lots: float = 0.0
    closed: int = 0
    realized: float = 0.0


class Orders(_Doc):
    executed: int = 0
    rejected: int = 0
    last: dict[str, Any] | None = None


class LastDecision(_Doc):
    type: str
    time: str
    notification_id: int


class Counts(_Doc):
    facts: int = 0
    decisions: int = 0
    unapplied: int = 0
    unapplied_by_reason: dict[str, int] = {}


class AccountStatus(_Doc):
    """The status view of one account, as of now (stale heartbeats show UNHEALTHY)."""

    account_id: str
    lifecycle: Lifecycle | None = None
    health: Health
    heartbeat: Heartbeat | None = None
    account: Money | None = None
    trading: Trading
    limits: Limits
    drawdown: Drawdowns
    positions: PositionCounts
    orders: Orders
    last_decision: LastDecision | None = None
    counts: Counts
    last_fact_time: str | None = None
    stale: bool = False


class Page(BaseModel):
    next_cursor: str | None = Field(
        None, description="pass as `cursor` for the next page; null on the last page"
    )


class AccountsPage(Page):
    items: list[AccountStatus]


class Position(_Doc):
    account_id: str
    identifier: int
    ticket: int
    symbol: str
    side: Literal["buy", "sell"]
    volume: float
    price_open: float
    price_current: float
    sl: float
    tp: float
    profit: float
    swap: float
    magic: int
    comment: str
    reason: str
    state: Literal["open", "closed"]
    opened_at: str
    opened_msc: int
    closed: dict[str, Any] | None = None


class PositionsPage(Page):
    items: list[Position]


class ReconciliationItem(_Doc):
    account_id: str
    item_id: str
    status: str = Field(
        description="matched, slipped, partial, rejected, expired, not_executed, manual,"
        " closed_by_broker; pending, closed, unknown"
    )
    signal_id: str | None = Field(None, description="the signal it came from, if any")
    approval_id: str | None = None
    mt5_position_id: int | None = None
    divergence_reason: str | None = Field(None, description="the reasons in words")
    reasons: list[dict[str, Any]] = []
    intent: dict[str, Any] | None = None
    position: dict[str, Any] | None = None
    since: str
    history: list[dict[str, Any]] | None = None


class ReconciliationPage(Page):
    items: list[ReconciliationItem]
    counts: dict[str, int] = Field(description="items per status on this page")


class Decision(BaseModel):
    account_id: str
    notification_id: int
    type: str
    time: str
    decision: dict[str, Any]


class RiskView(BaseModel):
    account_id: str
    risk: dict[str, Any] = Field(
        description="limits in force, day anchor, floors, rule state, counts, trading state"
    )
    recent: list[Decision] = Field(description="the latest kept decisions, oldest first")


class Ohlc(BaseModel):
    open: float
    high: float
    low: float
    close: float


class EquityBar(BaseModel):
    time: str = Field(description="start of the bar, UTC (YYYY-MM-DDTHH:MM)")
    equity: Ohlc
    balance: Ohlc
    samples: int


class FloorChange(BaseModel):
    time: str
    daily_floor: float | None = None
    max_floor: float | None = None
    type: str


class EquitySeries(Page):
    account_id: str
    resolution: str
    items: list[EquityBar]
    floors: list[FloorChange] = Field(description="when the daily and max floors changed")
    current_floors: dict[str, float | None]


class TimelineEntry(BaseModel):
    time: str
    kind: Literal["fact", "decision"]
    type: str
    key: str = Field(description="unique within the account's timeline")
    data: dict[str, Any]


class TimelinePage(Page):
    account_id: str
    items: list[TimelineEntry]


class Worker(_Doc):
    """One agent as the supervisor sees it (`mtq.agents.list`)."""

    account: str
    enabled: bool
    state: str
    pid: int | None = None
    restart_count: int = 0
    next_restart_at: str | None = None
    health: str
    health_reasons: list[str] = []
    health_details: list[str] = []
    last_exit: Any = None
    last_heartbeat: dict[str, Any] | None = None


class WorkerReply(BaseModel):
    """One account's agent, under the key `mtq.agents` uses."""

    message: str
    account: Worker


class WorkersReply(BaseModel):
    """Every account's agent, as `{"accounts": [...]}` like `mtq.agents.list` and `mtq status`."""

    message: str
    accounts: list[Worker]


class ValidationIssue(_Doc):
    file: str
    path: str
    rule: str
    message: str
    line: int | None = None
    text: str = ""


class ValidationReply(BaseModel):
    message: str
    account: str | None = None
    valid: bool
    errors: list[ValidationIssue]
    warnings: list[ValidationIssue]


class ControlReply(BaseModel):
    message: str
    account_id: str
    trading_state: TradingStateName
    changed: bool
    command_id: str = ""
    actor: str


class CheckReply(BaseModel):
    account_id: str
    client_order_id: str = ""
    approved: bool
    reasons: list[str] = []
    limits: dict[str, Any] = {}
    trading_state: TradingStateName
    decision: str = ""


class Delivery(BaseModel):
    id: int
    webhook: str
    url: str
    status: Literal["pending", "retrying", "delivered", "dead"]
    attempts: int
    last_status_code: int | None = None
    last_error: str | None = None
    updated: str


class Alert(BaseModel):
    id: int
    time: str
    account_id: str
    kind: str
    summary: str
    data: dict[str, Any]
    deliveries: list[Delivery]


class AlertsPage(Page):
    items: list[Alert]


class Liveness(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    ready: bool
    nats_connected: bool
    views: bool = Field(description="the read-model database answers")
    lag: dict[str, int | None] = Field(
        description="messages the views are behind the MT5 and RISK streams"
    )
    max_lag: int
    reasons: list[str]


class ErrorBody(BaseModel):
    code: int
    message: str
    detail: Any = None
