"""Signal and approval reads (issue 17): a signal's status per account, approvals.

The writes (`POST /api/v1/signals`, `POST /api/v1/approvals`) are the engine's, through the
`mtq-orders` service; these read the signals view the projector keeps (`proj_signals`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from pydantic import BaseModel, Field

from mtq.http.auth import reader
from mtq.http.cursor import encode_cursor
from mtq.http.models import _Doc
from mtq.http.routes_reads import ERRORS, Cursor, Limit, State, _cursor
from projections import signal_reads
from projections.db import Database

router = APIRouter(dependencies=[Depends(reader)], responses=ERRORS, prefix="/api/v1")

SignalStatus = Literal["received", "approved", "rejected", "expired", "sent", "executed"]
ApprovalStatus = Literal["pending", "approved", "rejected", "expired"]
SignalIdPath = Annotated[
    str, Path(pattern=r"^[A-Za-z0-9_.:-]{1,128}$", description="the strategy's signal id")
]
ApprovalIdPath = Annotated[
    str,
    Path(
        pattern=r"^[A-Za-z0-9_.:-]{1,128}:[A-Za-z0-9_-]{1,64}$",
        description="`<signal_id>:<account_id>`",
        examples=["sig-42:ftmo-001"],
    ),
]


class HistoryEntry(BaseModel):
    status: SignalStatus
    time: str
    event: str = Field(description="the decision or fact that moved the row")


class SignalRow(_Doc):
    """A signal on one account: `received → approved/rejected/expired → sent →
    executed/rejected`."""

    signal_id: str
    account_id: str
    strategy: str
    symbol: str
    side: Literal["buy", "sell"]
    order_type: str
    price: float | None = None
    requested_volume: float | None = None
    risk_percent: float | None = None
    volume: float | None = Field(None, description="lots for this account, once sized")
    sizing: str | None = None
    basis: dict[str, str] = {}
    sl: float | None = None
    tp: float | None = None
    comment: str = ""
    approval: str = Field(description="auto or manual")
    submitted_by: str = ""
    status: SignalStatus
    approval_id: str
    approval_status: ApprovalStatus | None = None
    command_id: str = Field(description="the PlaceOrder command id")
    order_comment: str = Field(description="`mtq-<8 hex>`, the position's comment")
    actor: str | None = Field(None, description="who moved it last: a token, auto, risk")
    reason: str = ""
    risk_check: dict[str, Any] | None = None
    mt5_position_id: int | None = None
    mt5_order: int | None = None
    mt5_deal: int | None = None
    fill_price: float | None = None
    fill_volume: float | None = None
    retcode: int | None = None
    received_at: str
    expires_at: str | None = None
    decided_at: str | None = None
    sent_at: str | None = None
    finished_at: str | None = None
    updated_at: str
    history: list[HistoryEntry] = []
    notes: list[dict[str, Any]] = Field([], description="events that changed nothing, and why")


class SignalView(BaseModel):
    signal_id: str
    strategy: str
    symbol: str
    side: Literal["buy", "sell"]
    order_type: str
    received_at: str
    accounts: list[SignalRow] = Field(description="one row per account, by account id")


class SignalsList(BaseModel):
    items: list[SignalView]


class Approval(_Doc):
    approval_id: str
    signal_id: str
    account_id: str
    status: ApprovalStatus
    signal_status: SignalStatus
    manual: bool = Field(description="asked of a person (the strategy's approval: manual)")
    strategy: str
    symbol: str
    side: Literal["buy", "sell"]
    order_type: str
    price: float | None = None
    volume: float | None = None
    sl: float | None = None
    tp: float | None = None
    comment: str = ""
    actor: str | None = Field(None, description="who decided (None while pending)")
    reason: str = ""
    received_at: str
    expires_at: str | None = None
    decided_at: str | None = None


class ApprovalsPage(BaseModel):
    items: list[Approval]
    next_cursor: str | None = None


@router.get("/signals/{signal_id}", response_model=SignalView, tags=["signals"])
async def get_signal(api: State, signal_id: SignalIdPath) -> dict[str, Any]:
    """A signal's status on each account it went to, with the position it opened."""
    rows = await api.reads.run(lambda db: signal_reads.signal(db, signal_id))
    if not rows:
        raise HTTPException(404, f"unknown signal {signal_id!r} (none projected)")
    return signal_reads.summary(signal_id, rows)


@router.get("/signals", response_model=SignalsList, tags=["signals"])
async def list_signals(
    api: State, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> dict[str, Any]:
    """The latest signals, newest first, each with its rows per account."""
    items = await api.reads.run(lambda db: signal_reads.recent(db, limit=limit))
    return {"items": items}


@router.get("/approvals/{approval_id}", response_model=Approval, tags=["signals"])
async def get_approval(api: State, approval_id: ApprovalIdPath) -> dict[str, Any]:
    """One approval: pending, or who approved or rejected it and why, or its expiry."""
    found = await api.reads.run(lambda db: signal_reads.approval(db, approval_id))
    if found is None or found["status"] is None:
        raise HTTPException(404, f"unknown approval {approval_id!r}")
    return found


@router.get("/approvals", response_model=ApprovalsPage, tags=["signals"])
async def list_approvals(
    *,
    api: State,
    status: Annotated[ApprovalStatus | None, Query(description="only this status")] = None,
    account: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_-]{1,64}$")] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """Approvals, oldest first; `?status=pending` lists those awaiting a person."""
    after = _cursor(cursor, 3)
    key = None if after is None else (str(after[0]), str(after[1]), str(after[2]))

    def read(db: Database) -> Any:
        return signal_reads.approvals(db, status=status, account_id=account, after=key, limit=limit)

    items, last = await api.reads.run(read)
    return {"items": items, "next_cursor": None if last is None else encode_cursor(list(last))}
