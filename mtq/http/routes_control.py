"""Control endpoints: workers through `mtq-agents`, trading state and pre-trade checks through
`mtq-risk`. Every one needs a bearer token; `api:<token name>` is the recorded actor (the
API asks on `mtq.risk.control.api`, which only its NATS identity may publish, naming the
token; the engine records `api:` and the name).

The worker paths are kept exactly as existing scripts call them (`/api/workers/...`).
Starting a running worker or stopping a stopped one answers 409; a worker started answers
201.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from pydantic import BaseModel, Field

from bus import subjects
from bus.security.identities import HTTP_API
from mtq.http.auth import control_actor
from mtq.http.models import (
    CheckReply,
    ControlReply,
    ErrorBody,
    ValidationReply,
    Worker,
    WorkerReply,
    WorkersReply,
)
from mtq.http.state import ApiState

ERRORS: Final[dict[int | str, dict[str, Any]]] = {
    code: {"model": ErrorBody} for code in (400, 401, 403, 404, 409, 422, 502, 503)
}
RUNNING: Final = frozenset({"STARTING", "RUNNING", "RESTARTING"})
STOPPED: Final = frozenset({"CREATED", "STOPPED", "FAILED"})

router = APIRouter(responses=ERRORS)
Actor = Annotated[str, Depends(control_actor)]
AccountPath = Annotated[
    str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="account id", examples=["ftmo-001"])
]


def _api(request: Request) -> ApiState:
    found: ApiState = request.app.state.api
    return found


State = Annotated[ApiState, Depends(_api)]


async def _agents(api: ApiState, operation: str, account_id: str | None) -> Any:
    body = {} if account_id is None else {"account": account_id}
    timeout = api.settings.request_timeout_s * (
        6 if operation in ("start", "stop", "restart") else 1
    )
    return await api.agents.request(f"{subjects.AGENTS_PREFIX}.{operation}", body, timeout)


async def _one(api: ApiState, account_id: str) -> dict[str, Any]:
    reply = await _agents(api, "list", account_id)
    workers = reply.get("accounts") or []
    if not workers:
        raise HTTPException(404, f"unknown worker {account_id!r}")
    found: dict[str, Any] = workers[0]
    return found


@router.get("/api/workers", response_model=WorkersReply, tags=["workers"])
async def list_workers(api: State, actor: Actor) -> dict[str, Any]:
    """Every worker (agent process) the supervisor runs."""
    workers = (await _agents(api, "list", None)).get("accounts") or []
    return {"message": f"{len(workers)} worker(s)", "accounts": workers}


@router.get("/api/workers/validate-all", response_model=ValidationReply, tags=["workers"])
async def validate_all(api: State, actor: Actor) -> dict[str, Any]:
    """Validate the supervisor's config files for every account."""
    result = await _agents(api, "validate", None)
    return _validation(result)


def _validation(result: dict[str, Any]) -> dict[str, Any]:
    errors = result.get("errors") or []
    message = "config is valid" if result.get("valid") else f"config has {len(errors)} error(s)"
    return {"message": message, **result}


@router.post("/api/workers/start-all", response_model=WorkersReply, tags=["workers"])
async def start_all(api: State, actor: Actor) -> dict[str, Any]:
    """Start every enabled worker that is not running."""
    workers = (await _agents(api, "start", None)).get("accounts") or []
    return {"message": f"started {len(workers)} worker(s)", "accounts": workers}


@router.post("/api/workers/stop-all", response_model=WorkersReply, tags=["workers"])
async def stop_all(api: State, actor: Actor) -> dict[str, Any]:
    """Stop every worker."""
    workers = (await _agents(api, "stop", None)).get("accounts") or []
    return {"message": f"stopped {len(workers)} worker(s)", "accounts": workers}


@router.get("/api/workers/{account_id}", response_model=WorkerReply, tags=["workers"])
async def get_worker(api: State, actor: Actor, account_id: AccountPath) -> dict[str, Any]:
    """One worker's state, health and restarts."""
    worker = await _one(api, account_id)
    return {"message": f"worker {account_id} is {worker.get('state')}", "account": worker}


@router.get("/api/workers/{account_id}/validate", response_model=ValidationReply, tags=["workers"])
async def validate_worker(api: State, actor: Actor, account_id: AccountPath) -> dict[str, Any]:
    """Validate the config as it concerns one account (and the global sections)."""
    return _validation(await _agents(api, "validate", account_id))


@router.post(
    "/api/workers/{account_id}/start",
    response_model=WorkerReply,
    status_code=201,
    tags=["workers"],
)
async def start_worker(api: State, actor: Actor, account_id: AccountPath) -> dict[str, Any]:
    """Start a worker now (cancelling a pending restart backoff); 409 when it is running."""
    before = await _one(api, account_id)
    if before.get("state") in RUNNING:
        raise HTTPException(409, f"worker {account_id} is already {before.get('state')}")
    return await _act(api, "start", account_id, "started")


@router.post("/api/workers/{account_id}/stop", response_model=WorkerReply, tags=["workers"])
async def stop_worker(api: State, actor: Actor, account_id: AccountPath) -> dict[str, Any]:
    """Stop a worker gracefully (then kill after the stop timeout); 409 when it is stopped."""
    before = await _one(api, account_id)
    if before.get("state") in STOPPED:
        raise HTTPException(409, f"worker {account_id} is not running ({before.get('state')})")
    return await _act(api, "stop", account_id, "stopped")


@router.post("/api/workers/{account_id}/restart", response_model=WorkerReply, tags=["workers"])
async def restart_worker(api: State, actor: Actor, account_id: AccountPath) -> dict[str, Any]:
    """Stop and start a worker."""
    return await _act(api, "restart", account_id, "restarted")


async def _act(api: ApiState, operation: str, account_id: str, done: str) -> dict[str, Any]:
    workers = (await _agents(api, operation, account_id)).get("accounts") or []
    if not workers:
        raise HTTPException(404, f"unknown worker {account_id!r}")
    worker = Worker.model_validate(workers[0])
    return {"message": f"worker {account_id} {done}", "account": worker}


class ControlBody(BaseModel):
    reason: str = Field(min_length=1, max_length=500, description="why; recorded with the actor")


class ResetBody(ControlBody):
    rebase: bool = Field(
        False,
        description="equity is still beyond the daily floor: anchor the day at the balance "
        "(recorded as DayRebased with the actor and reason); the max floor never moves",
    )


class CheckBody(BaseModel):
    symbol: str = Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")
    side: Literal["buy", "sell"]
    volume: float = Field(gt=0, le=1e6, description="lots")
    price: float = Field(ge=0, le=1e12)
    sl: float = Field(0.0, ge=0, le=1e12)
    tp: float = Field(0.0, ge=0, le=1e12)
    client_order_id: str = Field("", max_length=100)


async def _control(  # noqa: PLR0917 - the request's parts
    api: ApiState, account_id: str, action: str, reason: str, actor: str, rebase: bool = False
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "account_id": account_id,
        "action": action,
        "reason": reason,
        "actor": actor,
    }
    if rebase:
        body["rebase"] = True
    reply = await api.risk.request(subjects.risk_control(HTTP_API), body)
    verb = "changed" if reply.get("changed") else "unchanged"
    return {
        "message": f"{action}: trading state {reply.get('trading_state')} ({verb})",
        "actor": f"{HTTP_API}:{actor}",
        **reply,
    }


@router.post("/accounts/{account_id}/pause", response_model=ControlReply, tags=["risk control"])
async def pause(
    api: State, actor: Actor, account_id: AccountPath, body: ControlBody
) -> dict[str, Any]:
    """REDUCING: only orders that shrink exposure."""
    return await _control(api, account_id, "pause", body.reason, actor)


@router.post("/accounts/{account_id}/resume", response_model=ControlReply, tags=["risk control"])
async def resume(
    api: State, actor: Actor, account_id: AccountPath, body: ControlBody
) -> dict[str, Any]:
    """Back to ACTIVE after a pause (a breach's hold stays: 409)."""
    return await _control(api, account_id, "resume", body.reason, actor)


@router.post("/accounts/{account_id}/halt", response_model=ControlReply, tags=["risk control"])
async def halt(
    api: State, actor: Actor, account_id: AccountPath, body: ControlBody
) -> dict[str, Any]:
    """HALTED: nothing new until a reset."""
    return await _control(api, account_id, "halt", body.reason, actor)


@router.post("/accounts/{account_id}/reset", response_model=ControlReply, tags=["risk control"])
async def reset(
    api: State, actor: Actor, account_id: AccountPath, body: ResetBody
) -> dict[str, Any]:
    """Reopen a halted account; the actor is recorded. 409 while equity is beyond a floor,
    unless `rebase` anchors the day at the balance."""
    return await _control(api, account_id, "reset", body.reason, actor, body.rebase)


@router.post(
    "/accounts/{account_id}/orders/check", response_model=CheckReply, tags=["risk control"]
)
async def check_order(
    api: State, actor: Actor, account_id: AccountPath, body: CheckBody
) -> dict[str, Any]:
    """The pre-trade check: may this order be sent? Approved orders are recorded."""
    request = {"account_id": account_id, **body.model_dump()}
    reply: dict[str, Any] = await api.risk.request(subjects.risk_check(account_id), request)
    return reply
