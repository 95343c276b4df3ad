"""Notifications: alerts sent to apprise URLs (Telegram, e-mail, Slack, ...) by severity.

Each `alerts.notify` entry takes the alerts of its `min_severity` and above. An alert is
sent once per entry, retried with the webhooks' backoff, and recorded in the alert store's
deliveries table as `notify:<name>` with the URL masked; after `max_attempts` it is dead:
recorded, printed and dead-lettered like a webhook. URLs are expanded from `${NAME}` pieces
here, and every secret they hold is masked in what mtq and apprise log.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Final

import apprise

from bus import subjects
from config.errors import ConfigError
from config.models import NotifyConfig, Severity, env_pieces, expand_env
from mtq.http.alerts import AlertRecord, AlertStore
from mtq.http.webhooks import alert_body

log = logging.getLogger(__name__)

PREFIX: Final = "notify:"
MASK: Final = "***"
SENDERS: Final = 4
"""Notifications sent at once (each blocks a thread while apprise talks to its service)."""
Publish = Callable[[str, bytes, dict[str, str]], Awaitable[None]]
Outcome = Callable[[str, str, AlertRecord], None]
Send = Callable[[apprise.Apprise, str, str], Awaitable[bool]]


def severity(kind: str, data: Mapping[str, Any]) -> Severity:
    """How loud an alert is: warnings, then breaches, liquidations and halts as critical."""
    match kind:
        case (
            "DrawdownWarning" | "FeedStale" | "AgentUnhealthy" | "ScheduleWarning"
            | "NewsStopNearWindow"
        ):  # fmt: skip
            return "warning"
        case (
            "DrawdownBreached"
            | "LiquidationPending"
            | "LiquidationOrdered"
            | "PositionCloseOrdered"
            | "ScheduleFlattened"
            | "NewsWindowViolation"
            | "CrossHedgeDetected"
            | "BusUnreachable"
        ):
            return "critical"
        case "TradingStateChanged" if data.get("state") == "HALTED":
            return "critical"
        case _:
            return "info"


def _shown(value: Any) -> str:
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def message(alert: AlertRecord) -> tuple[str, str]:
    """(title, body): the account, kind and summary, then the numbers of the decision."""
    level = severity(alert.kind, alert.data)
    title = f"mtq {level}: {alert.account_id} {alert.kind}"
    lines = [alert.summary, "", f"account: {alert.account_id}", f"time: {alert.time}"]
    lines += [f"{k}: {_shown(v)}" for k, v in alert.data.items() if k != "account_id"]
    lines.append(f"alert id: {alert.id}")
    return title, "\n".join(lines)


class Redact(logging.Filter):
    """Replaces secret values in log records (installed on apprise's logger and ours)."""

    def __init__(self, secrets: frozenset[str]) -> None:
        super().__init__()
        self.secrets = secrets

    def clean(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            record.msg, record.args = self.clean(record.getMessage()), None
        return True


@dataclass(frozen=True)
class Target:
    name: str
    config: NotifyConfig
    service: apprise.Apprise
    shown_url: str
    """What the store and the logs show: the URL as configured when it has `${NAME}`
    pieces, else apprise's private form (passwords and tokens masked)."""


def build_targets(
    configs: tuple[NotifyConfig, ...], environ: Mapping[str, str]
) -> tuple[dict[str, Target], frozenset[str]]:
    """The targets by stored name and the secrets their URLs hold; ConfigError naming one."""
    targets: dict[str, Target] = {}
    secrets: set[str] = set()
    for index, config in enumerate(configs):
        where = f"alerts.notify[{index}]"
        try:
            url = expand_env(config.url, environ)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        pieces = {environ[n] for n in env_pieces(config.url)}
        secrets |= pieces
        service = apprise.Apprise()
        if not service.add(url):
            raise ConfigError(f"{where}: apprise does not know the URL {config.url!r}")
        shown = config.url if pieces else service.urls(privacy=True)[0]
        name = PREFIX + (config.name or str(index + 1))
        targets[name] = Target(name, config, service, shown)
    return targets, frozenset(secrets)


class Notifier:
    """Sends each alert to every target whose `min_severity` it reaches, one task each."""

    def __init__(
        self,
        configs: tuple[NotifyConfig, ...],
        store: AlertStore,
        *,
        environ: Mapping[str, str],
        on_outcome: Outcome | None = None,
        publish_dead: Publish | None = None,
        send: Send | None = None,
    ) -> None:
        self.targets, secrets = build_targets(configs, environ)
        self.store = store
        self.on_outcome = on_outcome
        self.publish_dead = publish_dead
        # apprise's plugins block (SMTP, HTTP) and space their own sends: threads of their own.
        self._pool = ThreadPoolExecutor(max_workers=SENDERS, thread_name_prefix="mtq-notify")
        self.send = send or self._send
        self.redact = Redact(secrets)
        self._tasks: set[asyncio.Task[None]] = set()
        if self.targets:
            for logger in (logging.getLogger("apprise"), log):
                logger.addFilter(self.redact)

    async def _send(self, service: apprise.Apprise, title: str, body: str) -> bool:
        loop = asyncio.get_running_loop()
        sent = await loop.run_in_executor(
            self._pool, functools.partial(service.notify, body=body, title=title)
        )
        return bool(sent)

    def start(self) -> None:
        """Resume the notifications an earlier run left unfinished."""
        for delivery_id, alert_id, name, attempts in self.store.unfinished():
            alert = self.store.get(alert_id)
            target = self.targets.get(name)
            if alert is not None and target is not None:
                self._spawn(delivery_id, target, alert, attempts)

    def submit(self, alert: AlertRecord) -> None:
        level = severity(alert.kind, alert.data)
        for target in self.targets.values():
            if target.config.wants(level):
                delivery_id = self.store.add_delivery(alert.id, target.name, target.shown_url)
                self._spawn(delivery_id, target, alert, 0)

    def _spawn(self, delivery_id: int, target: Target, alert: AlertRecord, done: int) -> None:
        task = asyncio.create_task(self._deliver(delivery_id, target, alert, done))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def idle(self) -> None:
        """Wait until no notification is in flight (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _deliver(
        self, delivery_id: int, target: Target, alert: AlertRecord, done: int
    ) -> None:
        title, body = message(alert)
        attempt, attempts = done, target.config.max_attempts
        while attempt < attempts:
            if attempt > 0:
                await asyncio.sleep(target.config.delay(attempt))
            attempt += 1
            error = await self._attempt(target, title, body)
            if error is None:
                self.store.attempt(
                    delivery_id, status="delivered", attempts=attempt, code=None, error=None
                )
                self._outcome("delivered", target.name, alert)
                return
            status = "retrying" if attempt < attempts else "dead"
            self.store.attempt(delivery_id, status=status, attempts=attempt, code=None, error=error)
        self._outcome("dead", target.name, alert)
        await self._dead_letter(alert, target.name)

    async def _attempt(self, target: Target, title: str, body: str) -> str | None:
        """None when sent, else why not (secrets masked)."""
        try:
            sent = await self.send(target.service, title, body)
        except Exception as exc:  # noqa: BLE001 - a plugin may raise anything: retried
            return self.redact.clean(f"{type(exc).__name__}: {exc}")[:500]
        return None if sent else f"{target.name}: apprise could not send it (see the API log)"

    def _outcome(self, status: str, name: str, alert: AlertRecord) -> None:
        if self.on_outcome is not None:
            self.on_outcome(status, name, alert)

    async def _dead_letter(self, alert: AlertRecord, name: str) -> None:
        if self.publish_dead is None:
            return
        headers = {
            "Mtq-Error": f"notification {name} failed after every attempt",
            "Mtq-Error-Kind": "notify_dead",
            "Mtq-Original-Subject": f"alert.{alert.kind}",
        }
        try:
            await self.publish_dead(
                subjects.webhook_dlq(alert.account_id), alert_body(alert), headers
            )
        except Exception as exc:  # noqa: BLE001 - the record in the store stays either way
            log.warning("notification dead letter not published: %r", exc)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        self._pool.shutdown(wait=False, cancel_futures=True)
        for logger in (logging.getLogger("apprise"), log):
            logger.removeFilter(self.redact)
