"""Signals and approvals (issue 17): forwarded to the engine's `mtq-orders` as the `api` identity.

`POST /api/v1/signals` is signed, not token-authenticated: `X-Mtq-Signature: sha256=<hex
HMAC-SHA256 of the raw body>` with the secret of the strategy the body names (its
`secret_env`, read from this process's environment only). A missing or wrong signature answers
401 before anything is sent, so nothing is recorded. The signal is then recorded with the
actor `api:strategy-<name>`. A repeated `signal_id` answers the first answer again
(`duplicate: true`). `POST /api/v1/approvals` takes a bearer token: `api:<token name>` is
the recorded approver.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, ValidationError

from bus import subjects
from bus.security.identities import HTTP_API, STRATEGY_PREFIX
from mtq.http.auth import control_actor
from mtq.http.control import ServiceClient
from mtq.http.models import ErrorBody
from mtq.http.state import ApiState

SIGNATURE_HEADER: Final = "X-Mtq-Signature"
ERRORS: Final[dict[int | str, dict[str, Any]]] = {
    code: {"model": ErrorBody} for code in (400, 401, 403, 404, 409, 422, 503)
}
_TOKEN = r"^[A-Za-z0-9_-]{1,64}$"
Price = Annotated[float, Field(gt=0, le=1e12)]

router = APIRouter(responses=ERRORS, tags=["signals"])
Actor = Annotated[str, Depends(control_actor)]


class SignalBody(BaseModel):
    """A strategy's signal, signed with its secret (`X-Mtq-Signature`)."""

    signal_id: str = Field(pattern=r"^[A-Za-z0-9_.:-]{1,128}$", examples=["demo-0001"])
    strategy: str = Field(pattern=_TOKEN, examples=["demo"])
    accounts: list[Annotated[str, Field(pattern=_TOKEN)]] | None = Field(
        None, description="a subset of the strategy's accounts (default: all of them)"
    )
    symbol: str = Field(pattern=_TOKEN, examples=["EURUSD"])
    side: Literal["buy", "sell"]
    type: Literal["market", "limit", "stop"] = "market"
    price: Price | None = Field(None, description="limit and stop orders only")
    volume: Annotated[float, Field(gt=0, le=1e6)] | None = Field(None, description="lots")
    risk_percent: Annotated[float, Field(gt=0, le=100)] | None = Field(
        None, description="of equity, sized from the SL distance (instead of volume)"
    )
    sl: Price | None = None
    tp: Price | None = None
    comment: str = Field("", max_length=200)


class AccountAnswer(BaseModel):
    account_id: str
    status: Literal["awaiting_approval", "approved", "sent", "rejected", "expired"]
    volume: str | None = None
    approval_id: str = ""
    command_id: str = ""
    reason: str = ""


class SignalAnswer(BaseModel):
    signal_id: str
    duplicate: bool = Field(description="the signal id was seen: the first answer, again")
    accounts: list[AccountAnswer]


class ApprovalBody(BaseModel):
    signal_id: str = Field(pattern=r"^[A-Za-z0-9_.:-]{1,128}$")
    account_id: str = Field(pattern=_TOKEN)
    decision: Literal["approve", "reject"]
    reason: str = Field("", max_length=500)


class ApprovalAnswer(BaseModel):
    signal_id: str
    account_id: str
    approval_id: str
    status: Literal["awaiting_approval", "approved", "sent", "rejected", "expired"]
    actor: str = Field("", description="the recorded approver; empty when nothing was recorded")
    command_id: str = ""
    reason: str = ""


def _orders(request: Request) -> ServiceClient:
    api: ApiState = request.app.state.api
    return ServiceClient(api.risk.nc, subjects.SERVICE_ORDERS, api.settings.request_timeout_s)


def signature(secret: str, body: bytes) -> str:
    """The `X-Mtq-Signature` value of `body` under `secret`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _verified_strategy(request: Request, raw: bytes) -> str:
    """The strategy whose secret signed `raw`; 401 (nothing sent) otherwise."""
    given = request.headers.get(SIGNATURE_HEADER, "")
    if not given.startswith("sha256="):
        raise HTTPException(401, f"{SIGNATURE_HEADER}: sha256=<hex HMAC-SHA256 of the body>")
    try:
        name = json.loads(raw).get("strategy")
    except (ValueError, AttributeError):
        name = None
    api: ApiState = request.app.state.api
    strategy = next((s for s in api.settings.strategies if s.name == name), None)
    secret = None if strategy is None else (api.settings.environ or {}).get(strategy.secret_env)
    if strategy is None or not secret:
        raise HTTPException(401, "the signature cannot be checked: no such strategy or secret")
    if not hmac.compare_digest(given.encode(), signature(secret, raw).encode()):
        raise HTTPException(401, f"{SIGNATURE_HEADER} does not match the body")
    return strategy.name


@router.post(
    "/api/v1/signals",
    response_model=SignalAnswer,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": SignalBody.model_json_schema()}},
        },
        "parameters": [
            {
                "name": SIGNATURE_HEADER,
                "in": "header",
                "required": True,
                "schema": {"type": "string"},
                "description": "sha256=<hex HMAC-SHA256 of the raw body with the strategy's "
                "secret>",
            }
        ],
    },
)
async def submit_signal(request: Request) -> dict[str, Any]:
    """Submit a signed signal; each of its accounts answers sent, awaiting_approval or
    rejected (with the reason). 401: signature missing or wrong (nothing recorded)."""
    raw = await request.body()
    name = _verified_strategy(request, raw)
    try:
        body = SignalBody.model_validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e.get("loc", ()))} for e in exc.errors()]
        ) from None
    submit = body.model_dump(exclude={"type"})
    submit.update(order_type=body.type, actor=f"{STRATEGY_PREFIX}{name}")
    submit = {k: v for k, v in submit.items() if v is not None}
    timeout = _orders(request).timeout_s * 3
    reply: dict[str, Any] = await _orders(request).request(
        subjects.orders_submit(HTTP_API), submit, timeout
    )
    reply.pop("type", None)
    return reply


@router.post("/api/v1/approvals", response_model=ApprovalAnswer)
async def decide_approval(request: Request, actor: Actor, body: ApprovalBody) -> dict[str, Any]:
    """Approve or reject a signal awaiting approval on one account, as `api:<token name>`;
    an approved one is then risk-checked and sent. Late (expired) or already decided:
    the status as it is, nothing recorded."""
    reply: dict[str, Any] = await _orders(request).request(
        subjects.orders_approve(HTTP_API), {**body.model_dump(), "actor": actor}
    )
    reply.pop("type", None)
    return reply
