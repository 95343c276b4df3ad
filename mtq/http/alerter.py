"""Turns decisions and status changes into alerts: recorded, printed, streamed, delivered."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from config.models import HEARTBEAT_TIMEOUT_S
from mtq.http.alerts import (
    BUS_ACCOUNT,
    AlertRecord,
    AlertStore,
    BusQuiet,
    RepeatFilter,
    bus_alert,
    decision_alert,
    missed_heartbeats,
    unhealthy_alert,
)
from mtq.http.live import LiveHub
from mtq.http.metrics import ApiMetrics
from mtq.http.notify import Notifier
from mtq.http.webhooks import Deliverer

Say = Callable[[str], None]
CONFIRM_AFTER_S = 5.0
"""How long an agent unhealthy for missed heartbeats must stay so before it alerts: longer
than the API's bus poll (mtq.http.app.BUS_POLL_S), so a bus outage is known by then."""


class Alerter:
    def __init__(
        self,
        store: AlertStore,
        deliverer: Deliverer,
        hub: LiveHub,
        metrics: ApiMetrics,
        say: Say | None = None,
        *,
        notifier: Notifier | None = None,
    ) -> None:
        self.store = store
        self.deliverer = deliverer
        self.notifier = notifier
        self.hub = hub
        self.metrics = metrics
        self.repeats = RepeatFilter()
        self.bus = BusQuiet(HEARTBEAT_TIMEOUT_S)
        self.confirm_after_s = CONFIRM_AFTER_S
        self._latest: dict[str, dict[str, Any]] = {}
        self.say = say
        self._saved_at = 0.0

    def on_decision(self, kind: str, body: dict[str, Any], seq: int) -> None:
        account_id = str(body["account_id"])
        at = str(body.get("timestamp", ""))
        data = {k: v for k, v in body.items() if k != "timestamp"}
        self.metrics.decisions.labels(kind).inc()
        self.hub.publish(
            "decision",
            account_id,
            {
                "account_id": account_id,
                "type": kind,
                "time": at,
                "notification_id": seq,
                "decision": data,
            },
        )
        summary = decision_alert(kind, data)
        if summary is not None and not self.repeats.admits(kind, body, at):
            summary = None  # the same cause alerted less than a minute ago
        if summary is not None:
            self.raise_alert(f"risk:{seq}", account_id, kind, summary, data, at)
        now = time.monotonic()
        if summary is not None or now - self._saved_at > 1.0:
            self.store.set_position("risk", seq)
            self._saved_at = now

    def _confirm_later(self, account_id: str, doc: dict[str, Any]) -> None:
        def confirm() -> None:
            if self._latest.get(account_id) is doc:  # nothing newer came meanwhile
                self.on_status(doc, confirmed=True)

        try:
            asyncio.get_running_loop().call_later(self.confirm_after_s, confirm)
        except RuntimeError:  # no loop (a synchronous caller): judge it now
            self.on_status(doc, confirmed=True)

    def on_bus(self, bus: dict[str, Any]) -> None:
        """The supervisor's view of the bus (`mtq.agents.list`): one alert per outage."""
        self.bus.observe(bus)
        found = bus_alert(bus)
        if found is not None:
            source, summary = found
            current = bus.get("current") or {}
            self.raise_alert(source, BUS_ACCOUNT, "BusUnreachable", summary, dict(current),
                             str(current.get("started") or ""))  # fmt: skip

    def on_status(self, doc: dict[str, Any], *, confirmed: bool = False) -> None:
        """A status doc: UNHEALTHY alerts, except missed heartbeats while the bus was down.

        A doc unhealthy only for missed heartbeats is judged again `confirm_after_s` later
        (`confirmed`): the bus watch learns of an outage a poll after the bus is back, and
        the docs the projector wrote during it arrive first.
        """
        account_id = str(doc["account_id"])
        if not confirmed:
            self.hub.publish("status", account_id, doc)
            self._latest[account_id] = doc
        found = unhealthy_alert(doc)
        if found is not None and missed_heartbeats(doc):
            if self.bus.quiet(datetime.now(UTC)):
                found = None  # heartbeats missed while the bus was down: the bus alert says it
            elif not confirmed:
                self._confirm_later(account_id, doc)
                found = None
        if found is not None:
            source, summary = found
            data = {
                "health": doc.get("health"),
                "heartbeat": doc.get("heartbeat"),
                "lifecycle": doc.get("lifecycle"),
            }
            at = (doc.get("heartbeat") or {}).get("time") or ""
            self.raise_alert(source, account_id, "AgentUnhealthy", summary, data, at)

    def raise_alert(  # noqa: PLR0917 - an alert's parts
        self,
        source: str,
        account_id: str,
        kind: str,
        summary: str,
        data: dict[str, Any],
        at: str,
    ) -> AlertRecord | None:
        record = self.store.add(
            source,
            time=at or datetime.now(UTC).isoformat(),
            account_id=account_id,
            kind=kind,
            summary=summary,
            data=data,
        )
        if record is None:
            return None
        self.metrics.alerts.labels(kind).inc()
        if self.say is not None:
            self.say(f"ALERT {account_id}: {kind}: {summary}")
        self.hub.publish(
            "alert",
            account_id,
            {
                "id": record.id,
                "time": record.time,
                "account_id": account_id,
                "kind": kind,
                "summary": summary,
            },
        )
        self.deliverer.submit(record)
        if self.notifier is not None:
            self.notifier.submit(record)
        return record

    def on_delivery(self, status: str, webhook: str, alert: AlertRecord) -> None:
        self.metrics.deliveries.labels(webhook, status).inc()
        if status == "dead" and self.say is not None:
            self.say(
                f"ALERT {alert.account_id}: webhook {webhook} failed for alert {alert.id} "
                f"({alert.kind}) after every attempt: dead-lettered"
            )

    def on_notification(self, status: str, target: str, alert: AlertRecord) -> None:
        self.metrics.deliveries.labels(target, status).inc()
        if status == "dead" and self.say is not None:
            self.say(
                f"ALERT {alert.account_id}: notification {target} failed for alert {alert.id} "
                f"({alert.kind}) after every attempt: dead-lettered"
            )
