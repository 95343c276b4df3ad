"""Operations: liveness, readiness (NATS, views, lag), Prometheus metrics, the live stream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from nats.js.errors import NotFoundError
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bus import subjects
from mtq.http.auth import reader
from mtq.http.models import ErrorBody, Liveness, Readiness
from mtq.http.state import ApiState
from projections import queries

router = APIRouter()
PING_S: Final = 15.0
READ_ERRORS: Final[dict[int | str, dict[str, Any]]] = {
    code: {"model": ErrorBody} for code in (401, 403, 422)
}


def _api(request: Request) -> ApiState:
    found: ApiState = request.app.state.api
    return found


State = Annotated[ApiState, Depends(_api)]


@router.get("/health", response_model=Liveness, tags=["operations"])
async def health() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


async def _stream_ends(api: ApiState) -> dict[str, int | None]:
    """Last sequence of MT5 and of the last decision in RISK (None: unknown)."""
    ends: dict[str, int | None] = {"mt5": None, "risk": None, "cmd": None}
    nc = api.nc
    if nc is None or not nc.is_connected:
        return ends
    js = nc.jetstream(timeout=2.0)
    for key, stream in (("mt5", subjects.STREAM_FACTS), ("cmd", subjects.STREAM_CMD)):
        try:
            info = await js.stream_info(stream)
            ends[key] = int(info.state.last_seq)
            api.metrics.stream_messages.labels(stream).set(info.state.messages)
            api.metrics.stream_last_seq.labels(stream).set(info.state.last_seq)
        except Exception:  # noqa: BLE001 - reported as unknown
            continue
    try:
        info = await js.stream_info(subjects.STREAM_RISK)
        api.metrics.stream_messages.labels(subjects.STREAM_RISK).set(info.state.messages)
        api.metrics.stream_last_seq.labels(subjects.STREAM_RISK).set(info.state.last_seq)
        last = await js.get_last_msg(
            subjects.STREAM_RISK, f"{subjects.RISK_PREFIX}.events.>", direct=True
        )
        ends["risk"] = int(last.seq or 0)
    except NotFoundError:
        ends["risk"] = 0
    except Exception:  # noqa: BLE001 - reported as unknown
        ends["risk"] = None
    return ends


async def readiness(api: ApiState) -> dict[str, Any]:
    reasons: list[str] = []
    connected = api.nc is not None and api.nc.is_connected
    api.metrics.nats_connected.set(1 if connected else 0)
    if not connected:
        reasons.append("NATS is not connected")
    if not api.views_ok:
        reasons.append(f"views cannot be read: {api.views_error or 'not loaded yet'}")
    positions = await _positions(api)
    ends = await _stream_ends(api)
    lag: dict[str, int | None] = {}
    for source in ("mt5", "risk"):
        end, reached = ends[source], positions.get(source)
        lag[source] = None if end is None or reached is None else max(0, end - reached)
        if reached is not None:
            api.metrics.position.labels(source).set(reached)
        if lag[source] is not None:
            api.metrics.lag.labels(source).set(lag[source] or 0)
            if (lag[source] or 0) > api.settings.ready_max_lag:
                reasons.append(f"views are {lag[source]} {source} messages behind")
    return {
        "ready": not reasons,
        "nats_connected": connected,
        "views": api.views_ok,
        "lag": lag,
        "max_lag": api.settings.ready_max_lag,
        "reasons": reasons,
    }


async def _positions(api: ApiState) -> dict[str, int]:
    def read(db: Any) -> dict[str, int]:
        reached = queries.tracking(db)
        return {"mt5": reached.get("MT5", 0), "risk": reached.get("RISK", 0)}

    try:
        return await api.reads.run(read)
    except Exception as exc:  # noqa: BLE001 - readiness says why
        api.views_ok, api.views_error = False, f"{type(exc).__name__}: {exc}"
        return {}


@router.get(
    "/ready",
    response_model=Readiness,
    tags=["operations"],
    responses={503: {"model": Readiness, "description": "not ready (the body says why)"}},
)
async def ready(api: State) -> JSONResponse:
    """Readiness: NATS connected, the views readable and caught up (lag in messages)."""
    body = await readiness(api)
    return JSONResponse(body, status_code=200 if body["ready"] else 503)


@router.get(
    "/metrics",
    tags=["operations"],
    response_class=Response,
    responses={
        200: {
            "content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}},
            "description": "Prometheus text exposition format",
        }
    },
)
async def metrics(api: State) -> Response:
    """Facts in, decisions, commands, projection lag, HTTP latency, alert deliveries."""
    await readiness(api)
    return Response(generate_latest(api.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.get(
    "/events/stream",
    tags=["live"],
    dependencies=[Depends(reader)],
    response_class=Response,
    responses={
        200: {
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
            "description": "server-sent events: `status`, `decision`, `alert`",
        },
        **READ_ERRORS,
    },
)
async def events_stream(
    api: State,
    account: Annotated[
        list[Annotated[str, Query(pattern=r"^[A-Za-z0-9_-]{1,64}$")]],
        Query(description="only these accounts (repeat the parameter); none: all"),
    ] = [],  # noqa: B006
) -> StreamingResponse:
    """Server-sent events as they happen: `status` (an account's status doc changed),
    `decision` (a risk decision recorded), `alert` (an alert raised)."""
    sub = api.hub.subscribe(account)

    async def events() -> AsyncIterator[str]:
        try:
            yield "retry: 2000\n: connected\n\n"
            while True:
                try:
                    item = await asyncio.wait_for(sub.queue.get(), PING_S)
                except TimeoutError:
                    yield ": ping\n\n"
                    continue
                if item is None:
                    return
                event, data = item
                yield f"event: {event}\ndata: {data}\n\n"
        finally:
            api.hub.unsubscribe(sub)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
