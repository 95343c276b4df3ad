"""`create_app(settings)`: the FastAPI app with its read models, NATS services and alerts.

On start it opens the views and keeps their status snapshot fresh, connects to NATS (and
keeps trying in the background if NATS is not there yet), follows decisions and status
for live updates and alerts, and resumes unfinished webhook deliveries. Errors answer
`{"code", "message", "detail"}`; a 422 names the field (`query.limit: ...`); a body over
`max_body_bytes` is a 413, answered before it is read (a Content-Length over the cap) or as
soon as the bytes received pass it (a chunked body); a caller over its `api.rate_limits`
budget gets a 429 with `Retry-After` (ratelimit.py). Alerts go to the webhooks and to the
`alerts.notify` apprise URLs (notify.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bus import subjects
from bus.connection import connect, settings_from_env
from mtq.http import (
    routes_analytics,
    routes_bars,
    routes_control,
    routes_docs,
    routes_export,
    routes_groups,
    routes_ops,
    routes_orders,
    routes_reads,
    routes_signals,
    routes_ui,
    ws,
)
from mtq.http.alerter import Alerter
from mtq.http.alerts import AlertStore
from mtq.http.auth import Tokens
from mtq.http.control import ServiceClient
from mtq.http.live import LiveFeed, LiveHub
from mtq.http.metrics import ApiMetrics
from mtq.http.notify import Notifier
from mtq.http.openapi_limits import document_rate_limits
from mtq.http.ratelimit import RateLimit, RateLimiter
from mtq.http.reads import ReadModels
from mtq.http.state import ApiSettings, ApiState
from mtq.http.webhooks import Deliverer

log = logging.getLogger(__name__)

BUS_POLL_S = 2.0
"""How often the API asks the supervisor about the bus (for the one BusUnreachable alert)."""
VERSION = "1.0.0"


def build_state(settings: ApiSettings) -> ApiState:
    """Everything the app holds, not started yet (no I/O but opening the alert store)."""
    metrics = ApiMetrics()
    hub = LiveHub()
    store = AlertStore(settings.alerts_db)
    deliverer = Deliverer(settings.webhooks, store, environ=settings.environ)
    environ = os.environ if settings.environ is None else settings.environ
    notifier = Notifier(settings.notify, store, environ=environ)
    alerter = Alerter(store, deliverer, hub, metrics, say=settings.say, notifier=notifier)
    deliverer.on_outcome = alerter.on_delivery
    notifier.on_outcome = alerter.on_notification
    timeout = settings.request_timeout_s
    return ApiState(
        settings=settings,
        reads=ReadModels(settings.db_url, settings.accounts),
        tokens=Tokens.build(settings.tokens, settings.tokens_env, host=settings.host),
        metrics=metrics,
        hub=hub,
        store=store,
        alerter=alerter,
        agents=ServiceClient(None, subjects.SERVICE_AGENTS, timeout),
        risk=ServiceClient(None, subjects.SERVICE_RISK, timeout),
    )


class Runtime:
    """The background work of a running app: view refresh and the NATS side."""

    def __init__(self, api: ApiState) -> None:
        self.api = api
        self.tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        await self._refresh_once()
        self.tasks.append(asyncio.create_task(self._refresh_forever(), name="api-views"))
        self.api.alerter.deliverer.start()
        if self.api.alerter.notifier is not None:
            self.api.alerter.notifier.start()
        if self.api.settings.nats_url is not None:
            self.tasks.append(asyncio.create_task(self._nats(), name="api-nats"))

    async def _refresh_once(self) -> None:
        api = self.api
        try:
            await api.reads.refresh()
            api.views_ok, api.views_error = True, ""
        except Exception as exc:  # noqa: BLE001 - /ready says why; the next round retries
            if api.views_ok or not api.views_error:
                log.warning("api: views cannot be read: %r", exc)
            api.views_ok, api.views_error = False, f"{type(exc).__name__}: {exc}"

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self.api.settings.refresh_interval_s)
            await self._refresh_once()

    async def _nats(self) -> None:
        api, settings = self.api, self.api.settings
        assert settings.nats_url is not None
        while api.nc is None:
            try:
                conn = settings_from_env(settings.nats_url, name="mtq-api", auth=settings.nats_auth)
                api.nc = await connect(conn)
            except Exception as exc:  # noqa: BLE001 - keep trying: the API serves reads meanwhile
                log.warning("api: NATS not reachable yet (%s); retrying", exc)
                await asyncio.sleep(2.0)
        api.agents.nc = api.risk.nc = api.nc
        api.alerter.deliverer.publish_dead = self._publish
        if api.alerter.notifier is not None:
            api.alerter.notifier.publish_dead = self._publish
        api.feed = LiveFeed(api.nc, api.alerter.on_decision, api.alerter.on_status)
        self.tasks.append(asyncio.create_task(self._watch_bus(), name="api-bus"))
        while True:
            try:
                await api.feed.start(api.store.position("risk"))
                return
            except Exception as exc:  # noqa: BLE001 - streams not provisioned yet: retry
                log.warning("api: live feed not started (%s); retrying", exc)
                await asyncio.sleep(2.0)

    async def _watch_bus(self) -> None:
        """Ask the supervisor how the bus is, every BUS_POLL_S: one alert per outage."""
        subject = f"{subjects.AGENTS_PREFIX}.list"
        while True:
            await asyncio.sleep(BUS_POLL_S)
            try:
                reply = await self.api.agents.request(subject, {})
            except HTTPException:
                continue  # no supervisor (api run alone) or NATS away: nothing to say
            bus = reply.get("bus") if isinstance(reply, dict) else None
            if isinstance(bus, dict):
                self.api.alerter.on_bus(bus)

    async def _publish(self, subject: str, body: bytes, headers: dict[str, str]) -> None:
        if self.api.nc is not None:
            await self.api.nc.publish(subject, body, headers=headers)

    async def stop(self) -> None:
        api = self.api
        api.hub.close()
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(BaseException):
                await task
        if api.feed is not None:
            await api.feed.stop()
        await api.alerter.deliverer.close()
        if api.alerter.notifier is not None:
            await api.alerter.notifier.close()
        if api.nc is not None:
            with contextlib.suppress(Exception):
                await api.nc.drain()
        await asyncio.to_thread(api.reads.close)
        api.store.close()


class Timing:
    """ASGI middleware: request latency by route template into the metrics."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            self.metrics.http.labels(scope["method"], path, str(status[0])).observe(
                time.perf_counter() - started
            )


class BodyLimit:
    """ASGI middleware: 413 for a request body over `max_bytes`, never read whole.

    A declared Content-Length over the cap is refused before the body is read; a chunked
    body as soon as the bytes received pass it: the 413 goes out at once, the app sees the
    client gone, and whatever it answers then is dropped.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or ()).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send, f"{int(declared)} bytes")
            return
        received = 0
        started = refused = False

        async def counting() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes and not started:
                    refused = True
                    await self._refuse(send, "more bytes than that")
                    return {"type": "http.disconnect"}
            return message

        async def sending(message: Message) -> None:
            nonlocal started
            if refused:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, counting, sending)

    async def _refuse(self, send: Send, what: str) -> None:
        message = (
            f"request body too large: {what}; this API takes at most {self.max_bytes} bytes "
            "(config `api.max_body_bytes`)"
        )
        # Connection: close, so the server does not read the rest of the body to reuse it.
        body = json.dumps({"code": 413, "message": message, "detail": None}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _error(code: int, message: str, detail: Any = None, headers: Any = None) -> JSONResponse:
    return JSONResponse({"code": code, "message": message, "detail": detail}, code, headers=headers)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    message = exc.detail if isinstance(exc.detail, str) else "error"
    return _error(exc.status_code, message, None, getattr(exc, "headers", None))


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    parts = [".".join(str(p) for p in e.get("loc", ())) + ": " + str(e.get("msg")) for e in errors]
    detail = [
        {"loc": list(e.get("loc", ())), "msg": str(e.get("msg")), "type": e.get("type")}
        for e in errors
    ]
    return _error(422, "; ".join(parts) or "invalid request", detail)


def create_app(settings: ApiSettings, *, api: ApiState | None = None) -> FastAPI:
    """The HTTP API and dashboard over `settings` (or over a prepared `api` state)."""
    state = api or build_state(settings)
    runtime = Runtime(state)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(
        title="mtq",
        version=VERSION,
        description="Read models, worker control, risk control, live events and alerts of mtq.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.api = state
    app.state.tokens = state.tokens
    app.state.runtime = runtime
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.include_router(routes_reads.router)
    app.include_router(routes_signals.router)
    app.include_router(routes_analytics.router)
    app.include_router(routes_export.router)
    app.include_router(ws.router)
    app.include_router(routes_bars.router)
    app.include_router(routes_control.router)
    app.include_router(routes_groups.router)
    app.include_router(routes_orders.router)
    app.include_router(routes_ops.router)
    app.include_router(routes_ui.router)
    app.include_router(routes_docs.router)
    app.add_middleware(BodyLimit, max_bytes=state.settings.max_body_bytes)
    limits = state.settings.rate_limits
    if limits is not None and limits.enabled:
        app.add_middleware(RateLimit, limiter=RateLimiter(limits))
    app.add_middleware(Timing, metrics=state.metrics)
    document_rate_limits(app)
    return app
