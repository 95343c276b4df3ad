"""`/metrics`: Prometheus text from a registry of the app's own (several apps per process in
tests). Facts in, decisions and commands are the streams' message counts read at scrape time;
projection lag is what `/ready` reports; HTTP latency and alert deliveries are counted here.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class ApiMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.http = Histogram(
            "mtq_http_request_duration_seconds",
            "HTTP request latency by route",
            ("method", "route", "status"),
            registry=r,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
        )
        self.stream_messages = Gauge(
            "mtq_stream_messages",
            "Messages in each stream (MT5: facts in, RISK: decisions, CMD: pending commands)",
            ("stream",),
            registry=r,
        )
        self.stream_last_seq = Gauge(
            "mtq_stream_last_sequence", "Last sequence of each stream", ("stream",), registry=r
        )
        self.lag = Gauge(
            "mtq_projection_lag_messages",
            "Messages the read models are behind each stream",
            ("source",),
            registry=r,
        )
        self.position = Gauge(
            "mtq_projection_position", "Sequence the read models reached", ("source",), registry=r
        )
        self.decisions = Counter(
            "mtq_api_decisions_seen_total",
            "Decisions the API followed live",
            ("type",),
            registry=r,
        )
        self.alerts = Counter("mtq_alerts_total", "Alerts raised", ("kind",), registry=r)
        self.deliveries = Counter(
            "mtq_alert_deliveries_total",
            "Webhook deliveries finished, by outcome (delivered, dead)",
            ("webhook", "status"),
            registry=r,
        )
        self.nats_connected = Gauge(
            "mtq_api_nats_connected", "1 when the API's NATS connection is up", registry=r
        )
