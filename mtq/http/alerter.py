"""Turns decisions and status changes into alerts: recorded, printed, streamed, delivered."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from mtq.http.alerts import (
    AlertRecord,
    AlertStore,
    RepeatFilter,
    decision_alert,
    unhealthy_alert,
)
from mtq.http.live import LiveHub
from mtq.http.metrics import ApiMetrics
from mtq.http.notify import Notifier
from mtq.http.webhooks import Deliverer

Say = Callable[[str], None]


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

    def on_status(self, doc: dict[str, Any]) -> None:
        account_id = str(doc["account_id"])
        self.hub.publish("status", account_id, doc)
        found = unhealthy_alert(doc)
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
