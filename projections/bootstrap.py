"""`build_projector()`: the one wiring of a projector process, for the CLI, tests and benchmarks."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from nats.aio.client import Client
from nats.js.client import JetStreamContext
from nats.js.errors import NotFoundError
from nats.micro.service import Service

from bus import subjects
from bus.connection import connect, settings_from_env
from bus.security.client import ClientAuth
from bus.topology import TopologySettings, ensure_topology
from config import MtqConfig
from projections.candle_projector import CandleProjector
from projections.db import Database, default_url, open_database
from projections.kv import StatusMirror
from projections.projector import RISK_FILTERS, Projector
from projections.rebuild import RebuildControl
from projections.service import QueryService, add_query_service
from projections.settings import AccountSettings, settings_for
from projections.views import Views
from projections.views_lock import ViewsLock

log = logging.getLogger(__name__)


@dataclass
class ProjectorProcess:
    """A wired projector: NATS client, database, views, KV mirror and `mtq-query`."""

    nc: Client
    db: Database
    projector: Projector
    mirror: StatusMirror | None
    queries: QueryService | None
    micro: Service | None = None
    candles: CandleProjector | None = None
    """The candles view's own tick reader and connection (None: not kept)."""
    lock: ViewsLock | None = None
    """Held while the process lives: one projector per views database."""

    async def run(self, stop: asyncio.Event, *, until: tuple[int, int] | None = None) -> None:
        """Serve `mtq-query`, mirror status to KV and project until `stop` (or `until`)."""
        refresh: asyncio.Task[None] | None = None
        candles_stop = asyncio.Event()
        candles = None
        if self.candles is not None:
            candles = asyncio.create_task(self.candles.run(candles_stop), name="candles")
        try:
            if self.queries is not None:
                self.micro = await add_query_service(self.nc, self.queries)
                await self.nc.flush()  # the server knows the endpoints before we say ready
            if self.mirror is not None:
                await self.mirror.publish(list(self.projector.views.status.values()))
                refresh = asyncio.create_task(self.mirror.refresh_forever(stop))
            if self.queries is not None:  # the live projector also rebuilds when asked
                await RebuildControl(self).run(stop, until=until)
            else:
                await self.projector.run(stop, until=until)
        finally:
            candles_stop.set()
            if candles is not None:
                with contextlib.suppress(BaseException):
                    await candles
            if refresh is not None:
                refresh.cancel()
                with contextlib.suppress(BaseException):
                    await refresh
            await self.close()

    async def close(self) -> None:
        if self.micro is not None:
            with contextlib.suppress(Exception):
                await self.micro.stop()
            self.micro = None
        if self.queries is not None:
            await asyncio.to_thread(self.queries.close)
            self.queries = None
        with contextlib.suppress(Exception):
            await asyncio.to_thread(self.db.close)
        if self.candles is not None:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self.candles.db.close)
            self.candles = None
        if not self.nc.is_closed:
            with contextlib.suppress(Exception):
                await self.nc.drain()
        if self.lock is not None:
            self.lock.release()
            self.lock = None


def database_url(db: str | None, data_dir: Path) -> str:
    """`--db` as given, else the SQLite file in the data dir."""
    return db or default_url(data_dir)


async def build_projector(
    config: MtqConfig | Mapping[str, AccountSettings],
    nats_url: str,
    *,
    db_url: str,
    topology: TopologySettings | None = None,
    serve: bool = True,
    mirror: bool = True,
    rebuild: bool = False,
    batch_size: int = 2000,
    flush_interval_s: float = 0.1,
    auth: ClientAuth | None = None,
    candles: bool = True,
) -> ProjectorProcess:
    """Connect, provision, open the database (dropped first with `rebuild`), load the views.

    `auth`: the projector's identity (default: as the environment or the data dir says).
    """
    settings = settings_for(config) if isinstance(config, MtqConfig) else dict(config)
    lock = ViewsLock(db_url, "mtq projector rebuild" if rebuild else "mtq projector run")
    lock.acquire()  # ViewsLocked: another projector holds these views
    try:
        nc = await connect(settings_from_env(nats_url, name="mtq-projector", auth=auth))
    except BaseException:
        lock.release()
        raise
    try:
        js = nc.jetstream()
        await ensure_topology(js, topology)
        db = await asyncio.to_thread(open_database, db_url)
        if rebuild:
            await asyncio.to_thread(db.drop_views)
        status_mirror = None
        if mirror:
            status_mirror = StatusMirror(await js.key_value(subjects.KV_STATUS), settings)
        service = None
        if serve:
            service = QueryService(await asyncio.to_thread(open_database, db_url), settings)
    except BaseException:
        await nc.close()
        lock.release()
        raise

    def current_js() -> JetStreamContext | None:
        return js if nc.is_connected else None

    projector = await Projector.open(
        db,
        Views(settings),
        current_js,
        batch_size=batch_size,
        flush_interval_s=flush_interval_s,
        on_status=None if status_mirror is None else status_mirror.publish,
    )
    candle_projector = None
    if candles:
        candle_db = await asyncio.to_thread(open_database, db_url)
        candle_projector = await CandleProjector.open(candle_db, current_js)
    return ProjectorProcess(
        nc, db, projector, status_mirror, service, candles=candle_projector, lock=lock
    )


async def log_ends(js: JetStreamContext) -> tuple[int, int]:
    """The last MT5 fact and the last RISK event now (what a rebuild must reach)."""
    mt5 = await js.stream_info(subjects.STREAM_FACTS)
    try:
        last = await js.get_last_msg(subjects.STREAM_RISK, RISK_FILTERS[0])
    except NotFoundError:
        return int(mt5.state.last_seq), 0
    return int(mt5.state.last_seq), int(last.seq or 0)
