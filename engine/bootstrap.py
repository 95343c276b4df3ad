"""`build_engine()`: the one wiring of a risk-engine process, for the CLI, tests and benchmarks."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from nats.aio.client import Client
from nats.js.client import JetStreamContext
from nats.micro.service import Service

from bus import subjects
from bus.connection import connect, settings_from_env
from bus.dlq import dead_letter
from bus.reader import RawFact
from bus.schemas.base import utc_now
from bus.security.client import ClientAuth
from bus.topology import TopologySettings, ensure_topology
from config import ConfigError, MtqConfig, load_config
from config.calendar import config_calendar
from domain import RiskRules
from engine.decider import Rejected
from engine.engine import SNAPSHOT_EVERY, Clock, RiskEngine
from engine.orders_service import OrdersService, Strategies, add_orders_service
from engine.rules import rules_for
from engine.service import Reloaded, RiskService, add_risk_service
from engine.store import RiskStore, open_store

log = logging.getLogger(__name__)

CONSUMER_NAME = "risk-engine"


@dataclass
class EngineProcess:
    """A wired engine: NATS client, event store, engine and its service."""

    nc: Client
    store: RiskStore
    engine: RiskEngine
    service: RiskService
    micro: Service | None = None
    orders: OrdersService | None = None
    orders_micro: Service | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Start (catch up, record config), serve `mtq-risk`, follow facts until `stop`."""
        try:
            last = await _stream_last_seq(self.nc.jetstream())
            await self.engine.start(caught_up_seq=last)
            self.micro = await add_risk_service(self.nc, self.service)
            if self.orders is not None:
                self.orders_micro = await add_orders_service(self.nc, self.orders)
            await self.engine.run(stop)
        finally:
            await self.close()

    async def close(self) -> None:
        for micro in (self.micro, self.orders_micro):
            if micro is not None:
                with contextlib.suppress(Exception):
                    await micro.stop()
        self.micro = self.orders_micro = None
        if not self.nc.is_closed:
            with contextlib.suppress(Exception):
                await self.nc.drain()


async def _stream_last_seq(js: JetStreamContext) -> int:
    info = await js.stream_info(subjects.STREAM_FACTS)
    return int(info.state.last_seq)


def engine_rules(config: MtqConfig) -> dict[str, RiskRules]:
    """The risk rules of every enabled account in the config."""
    return {a.id: rules_for(a, config.group_of(a.id)) for a in config.accounts if a.enabled}


def config_reloader(config: MtqConfig) -> Callable[[], Reloaded]:
    """Re-read the files `config` came from: the rules and calendar they give now
    (ConfigError with every file:line when they are not valid)."""
    paths = [Path(p) for p in config.source]

    def reload() -> Reloaded:
        if not paths:
            raise ConfigError("the engine was not started from config files: nothing to re-read")
        fresh = load_config(paths)
        return Reloaded(engine_rules(fresh), config_calendar(fresh))

    return reload


async def build_engine(
    config: MtqConfig | Mapping[str, RiskRules],
    nats_url: str,
    *,
    topology: TopologySettings | None = None,
    clock: Clock = utc_now,
    snapshot_every: int | None = None,
    auth: ClientAuth | None = None,
) -> EngineProcess:
    """Connect, provision, open RISK and wire the engine and `mtq-risk` for `config`.

    `auth`: the engine's identity (default: as the environment or the data dir says); the
    event store's own connections use the same.
    """
    rules = engine_rules(config) if isinstance(config, MtqConfig) else dict(config)
    calendar = config_calendar(config) if isinstance(config, MtqConfig) else None
    settings = settings_from_env(nats_url, name="mtq-engine", auth=auth).with_env_defaults()
    nc = await connect(settings)
    try:
        await ensure_topology(nc.jetstream(), topology)
        store = await asyncio.to_thread(open_store, nats_url, auth=settings.auth)
    except BaseException:
        await nc.close()
        raise
    js = nc.jetstream()

    def current_js() -> JetStreamContext | None:
        return js if nc.is_connected else None

    async def to_dlq(raw: RawFact, rejected: Rejected) -> None:
        try:
            await dead_letter(
                js,
                subject=raw.subject,
                data=raw.data,
                error=f"{rejected.kind}: {rejected.reason}",
                kind="rejected",
                consumer=CONSUMER_NAME,
                original_headers=dict(raw.headers or {}),
            )
        except Exception:
            log.exception("fact %d on %s could not be dead-lettered", raw.seq, raw.subject)

    engine = RiskEngine(
        store=store,
        get_js=current_js,
        rules=rules,
        dead_letter=to_dlq,
        clock=clock,
        calendar=calendar,
        snapshot_every=SNAPSHOT_EVERY if snapshot_every is None else snapshot_every,
    )
    reload = config_reloader(config) if isinstance(config, MtqConfig) else None
    service = RiskService(engine, nc, reload=reload)
    strategies = Strategies.from_config(config) if isinstance(config, MtqConfig) else Strategies()
    orders = OrdersService(engine, service, strategies)
    return EngineProcess(nc=nc, store=store, engine=engine, service=service, orders=orders)
