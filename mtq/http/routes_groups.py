"""Group control: pause, resume or stop every account of a group (config `groups:`).

Each member gets the per-account control (`mtq.risk.control.api`, as `/accounts/{id}/pause`
does) with the token's name as the recorded actor, in the group's account order. A member
the engine refuses (409: a breach's hold stays on resume) is reported with its error and
the others still get theirs; a group of unknown name answers 404.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import APIRouter, HTTPException, Path
from pydantic import BaseModel

from bus.security.identities import HTTP_API
from config.models import GroupConfig
from domain.trading_state import ControlAction
from mtq.http.routes_control import ERRORS, Actor, ControlBody, State, _control
from mtq.http.state import ApiState

GROUP_ACTIONS: Final[dict[str, ControlAction]] = {
    "pause": "pause",
    "resume": "resume",
    "stop": "halt",
}
"""Path verb -> the per-account control: `stop` is the emergency stop, HALTED."""

router = APIRouter(responses=ERRORS)
GroupPath = Annotated[
    str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="group name", examples=["trader-1"])
]


class MemberResult(BaseModel):
    account_id: str
    trading_state: str | None = None
    changed: bool = False
    error: str | None = None
    status: int = 200


class GroupControlReply(BaseModel):
    message: str
    group: str
    action: str
    actor: str
    accounts: list[MemberResult]


def _group(groups: tuple[GroupConfig, ...], name: str) -> GroupConfig:
    found = next((g for g in groups if g.name == name), None)
    if found is None:
        known = ", ".join(g.name for g in groups) or "none"
        raise HTTPException(404, f"unknown group {name!r}; known: {known}")
    return found


async def control_group(
    api: ApiState, name: str, verb: str, reason: str, actor: str
) -> dict[str, Any]:
    """Apply the control `verb` stands for to every member of group `name`."""
    group = _group(api.settings.groups, name)
    action = GROUP_ACTIONS[verb]
    results: list[MemberResult] = []
    for account_id in group.accounts:
        try:
            reply = await _control(api, account_id, action, f"group {name}: {reason}", actor)
        except HTTPException as exc:
            results.append(MemberResult(account_id=account_id, error=str(exc.detail),
                                        status=exc.status_code))  # fmt: skip
            continue
        results.append(
            MemberResult(
                account_id=account_id,
                trading_state=reply.get("trading_state"),
                changed=bool(reply.get("changed")),
            )
        )
    failed = sum(1 for r in results if r.error is not None)
    done = len(results) - failed
    message = f"group {name} {action}: {done} of {len(results)} account(s)"
    if failed:
        message += f", {failed} refused"
    reply_body = GroupControlReply(
        message=message, group=name, action=action, actor=f"{HTTP_API}:{actor}", accounts=results
    )
    return reply_body.model_dump()


@router.post("/api/v1/groups/{group}/pause", response_model=GroupControlReply,
             tags=["risk control"])  # fmt: skip
async def pause_group(api: State, actor: Actor, group: GroupPath, body: ControlBody) -> Any:
    """Every account of the group REDUCING (only orders that shrink exposure)."""
    return await control_group(api, group, "pause", body.reason, actor)


@router.post("/api/v1/groups/{group}/resume", response_model=GroupControlReply,
             tags=["risk control"])  # fmt: skip
async def resume_group(api: State, actor: Actor, group: GroupPath, body: ControlBody) -> Any:
    """Every account of the group back to ACTIVE after a pause (a breach's hold stays)."""
    return await control_group(api, group, "resume", body.reason, actor)


@router.post("/api/v1/groups/{group}/stop", response_model=GroupControlReply,
             tags=["risk control"])  # fmt: skip
async def stop_group(api: State, actor: Actor, group: GroupPath, body: ControlBody) -> Any:
    """Emergency stop: every account of the group HALTED (nothing new until a reset)."""
    return await control_group(api, group, "stop", body.reason, actor)
