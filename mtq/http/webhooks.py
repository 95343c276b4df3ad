"""Webhook deliveries: POST the alert as JSON, signed, retried with backoff, dead-lettered.

Headers: `X-Mtq-Signature-256: sha256=<hex HMAC-SHA256 of the body with the secret>`
(when the webhook has a `secret_env`), `X-Mtq-Event` (the alert kind), `X-Mtq-Delivery`
(the delivery id, the same on every attempt), `X-Mtq-Attempt`. The body is the same bytes
on every attempt. A 2xx answer delivers; anything else (or no answer within `timeout_s`)
is retried after `backoff_initial_s`, times `backoff_factor` each time, up to
`max_attempts`; then the delivery is dead: recorded so, printed, and published on
`dlq.api.webhook.<account>` when NATS is there.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from typing import Final

import httpx

from bus import subjects
from config.models import WebhookConfig
from mtq.http.alerts import AlertRecord, AlertStore

log = logging.getLogger(__name__)

SIGNATURE_HEADER: Final = "X-Mtq-Signature-256"
Publish = Callable[[str, bytes, dict[str, str]], Awaitable[None]]
Outcome = Callable[[str, str, AlertRecord], None]


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def webhook_name(hook: WebhookConfig, index: int) -> str:
    return hook.name or f"webhook-{index + 1}"


def alert_body(alert: AlertRecord) -> bytes:
    doc = {
        "id": alert.id,
        "kind": alert.kind,
        "account_id": alert.account_id,
        "time": alert.time,
        "summary": alert.summary,
        "data": alert.data,
    }
    return json.dumps(doc, separators=(",", ":"), default=str).encode()


class Deliverer:
    """Sends each alert to every webhook that wants its kind, one task per delivery."""

    def __init__(
        self,
        hooks: tuple[WebhookConfig, ...],
        store: AlertStore,
        *,
        environ: Mapping[str, str] | None = None,
        on_outcome: Outcome | None = None,
        publish_dead: Publish | None = None,
    ) -> None:
        self.hooks = {webhook_name(h, i): h for i, h in enumerate(hooks)}
        self.store = store
        self.environ = os.environ if environ is None else environ
        self.on_outcome = on_outcome
        self.publish_dead = publish_dead
        self._tasks: set[asyncio.Task[None]] = set()
        self._client: httpx.AsyncClient | None = None

    def start(self) -> None:
        """Open the HTTP client and resume deliveries an earlier run left unfinished."""
        self._client = httpx.AsyncClient(follow_redirects=False)
        for delivery_id, alert_id, name, attempts in self.store.unfinished():
            alert = self.store.get(alert_id)
            hook = self.hooks.get(name)
            if alert is not None and hook is not None:
                self._spawn(delivery_id, name, hook, alert, attempts)

    def submit(self, alert: AlertRecord) -> None:
        for name, hook in self.hooks.items():
            if hook.wants(alert.kind):
                delivery_id = self.store.add_delivery(alert.id, name, hook.url)
                self._spawn(delivery_id, name, hook, alert, 0)

    def _spawn(
        self, delivery_id: int, name: str, hook: WebhookConfig, alert: AlertRecord, done: int
    ) -> None:
        task = asyncio.create_task(self._deliver(delivery_id, name, hook, alert, done))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def idle(self) -> None:
        """Wait until no delivery is in flight (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _deliver(
        self, delivery_id: int, name: str, hook: WebhookConfig, alert: AlertRecord, done: int
    ) -> None:
        body = alert_body(alert)
        headers = {
            "Content-Type": "application/json",
            "X-Mtq-Event": alert.kind,
            "X-Mtq-Delivery": str(delivery_id),
        }
        secret = self.environ.get(hook.secret_env) if hook.secret_env else None
        if secret:
            headers[SIGNATURE_HEADER] = signature(secret, body)
        attempt = done
        while attempt < hook.max_attempts:
            if attempt > 0:
                await asyncio.sleep(_delay(hook, attempt))
            attempt += 1
            code, error = await self._post(hook, body, headers | {"X-Mtq-Attempt": str(attempt)})
            if code is not None and 200 <= code < 300:
                self.store.attempt(
                    delivery_id, status="delivered", attempts=attempt, code=code, error=None
                )
                self._outcome("delivered", name, alert)
                return
            last = "retrying" if attempt < hook.max_attempts else "dead"
            self.store.attempt(delivery_id, status=last, attempts=attempt, code=code, error=error)
        self._outcome("dead", name, alert)
        await self._dead_letter(alert, name, body)

    async def _post(
        self, hook: WebhookConfig, body: bytes, headers: dict[str, str]
    ) -> tuple[int | None, str | None]:
        assert self._client is not None
        try:
            response = await self._client.post(
                hook.url, content=body, headers=headers, timeout=hook.timeout_s
            )
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}"[:500]
        if 200 <= response.status_code < 300:
            return response.status_code, None
        return response.status_code, f"HTTP {response.status_code}"

    def _outcome(self, status: str, name: str, alert: AlertRecord) -> None:
        if self.on_outcome is not None:
            self.on_outcome(status, name, alert)

    async def _dead_letter(self, alert: AlertRecord, name: str, body: bytes) -> None:
        if self.publish_dead is None:
            return
        headers = {
            "Mtq-Error": f"webhook {name} failed after every attempt",
            "Mtq-Error-Kind": "webhook_dead",
            "Mtq-Original-Subject": f"alert.{alert.kind}",
        }
        try:
            await self.publish_dead(subjects.webhook_dlq(alert.account_id), body, headers)
        except Exception as exc:  # noqa: BLE001 - the record in the store stays either way
            log.warning("webhook dead letter not published: %r", exc)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        if self._client is not None:
            await self._client.aclose()


def _delay(hook: WebhookConfig, attempt: int) -> float:
    return float(
        min(hook.backoff_max_s, hook.backoff_initial_s * hook.backoff_factor ** (attempt - 1))
    )
