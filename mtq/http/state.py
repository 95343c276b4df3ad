"""What the app is built from (`ApiSettings`) and what it holds while it runs (`ApiState`)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nats.aio.client import Client

from bus.security.client import ClientAuth
from config import MtqConfig
from config.models import (
    ApiTokenConfig,
    GroupConfig,
    NotifyConfig,
    RateLimitsConfig,
    StrategyConfig,
    WebhookConfig,
)
from mtq.http.alerter import Alerter
from mtq.http.alerts import AlertStore
from mtq.http.auth import ENV_TOKENS, Tokens
from mtq.http.control import ServiceClient
from mtq.http.live import LiveFeed, LiveHub
from mtq.http.metrics import ApiMetrics
from mtq.http.reads import ReadModels
from projections.settings import AccountSettings, settings_for


@dataclass(frozen=True)
class ApiSettings:
    """Everything `create_app` needs; `from_config` fills it from an mtq config."""

    db_url: str
    nats_url: str | None = None
    nats_auth: ClientAuth | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    accounts: Mapping[str, AccountSettings] = field(default_factory=dict)
    tokens: tuple[ApiTokenConfig, ...] = ()
    tokens_env: str | None = None
    webhooks: tuple[WebhookConfig, ...] = ()
    notify: tuple[NotifyConfig, ...] = ()
    """Apprise URLs alerts are sent to (`alerts.notify`)."""
    rate_limits: RateLimitsConfig | None = None
    """Requests per token or client address (`api.rate_limits`); None: not limited."""
    environ: Mapping[str, str] | None = None
    alerts_db: Path | None = None
    """SQLite file of alerts and deliveries (None: in memory)."""
    say: Callable[[str], None] | None = None
    """Where alerts are printed (the `mtq up` console)."""
    request_timeout_s: float = 5.0
    ready_max_lag: int = 1000
    refresh_interval_s: float = 0.1
    max_body_bytes: int = 1024 * 1024
    """Larger request bodies answer 413 unread (`api.max_body_bytes`)."""
    strategies: tuple[StrategyConfig, ...] = ()
    """Signal providers; their HMAC secrets are read from `environ` (`secret_env`)."""
    groups: tuple[GroupConfig, ...] = ()
    """Account groups (`groups:`): what `/api/v1/groups/{g}/...` controls."""

    @classmethod
    def from_config(cls, config: MtqConfig, db_url: str, **given: Any) -> ApiSettings:
        environ = given.pop("environ", None) or os.environ
        return cls(
            db_url=db_url,
            accounts=settings_for(config),
            tokens=config.api.tokens,
            tokens_env=environ.get(ENV_TOKENS),
            webhooks=config.api.webhooks,
            notify=config.alerts.notify,
            rate_limits=config.api.rate_limits,
            max_body_bytes=config.api.max_body_bytes,
            strategies=config.strategies,
            groups=config.groups,
            environ=environ,
            **given,
        )


@dataclass
class ApiState:
    settings: ApiSettings
    reads: ReadModels
    tokens: Tokens
    metrics: ApiMetrics
    hub: LiveHub
    store: AlertStore
    alerter: Alerter
    agents: ServiceClient
    risk: ServiceClient
    nc: Client | None = None
    feed: LiveFeed | None = None
    views_ok: bool = False
    views_error: str = ""
