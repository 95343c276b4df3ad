"""A rebuild inside the running projector, asked on `mtq.projector.rebuild` (only admin may).

The projector stops its loop, drops the views of MT5 and RISK (the candles stay: they come
from MT5_TICKS alone), and projects both logs again from the start on fresh views, then goes
on live. It answers the request at once (`RebuildReply`) and publishes `RebuildProgress` on
`mtq.projector.rebuild.progress` until the logs' ends of that moment are committed. Reads
(`mtq-query`, the HTTP API) meanwhile see the views as far as they are rebuilt.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Final

import msgspec
from nats.aio.msg import Msg

from bus import subjects
from bus.schemas.query import RebuildProgress, RebuildReply
from projections.projector import Projector
from projections.views import Views

if TYPE_CHECKING:
    from projections.bootstrap import ProjectorProcess

log = logging.getLogger(__name__)

PROGRESS_EVERY_S: Final = 0.2
_encode = msgspec.json.Encoder().encode


class RebuildControl:
    """Runs a projector process's loop, restarting it on fresh views when asked."""

    def __init__(self, process: ProjectorProcess) -> None:
        self.process = process
        self._asked: list[Msg] = []
        self._wake = asyncio.Event()
        self._progress: asyncio.Task[None] | None = None

    async def run(self, stop: asyncio.Event, *, until: tuple[int, int] | None = None) -> None:
        nc = self.process.nc
        sub = await nc.subscribe(subjects.PROJECTOR_REBUILD, cb=self._on_request)
        try:
            while True:
                interrupt = asyncio.Event()
                watcher = asyncio.create_task(self._interrupt(stop, interrupt))
                try:
                    await self.process.projector.run(interrupt, until=until)
                finally:
                    watcher.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await watcher
                if stop.is_set() or not self._asked:
                    return
                await self._restart(self._asked[0])  # still asked (busy) while it restarts
                self._asked.pop(0)
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
            if self._progress is not None:
                self._progress.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._progress

    @property
    def busy(self) -> bool:
        """A rebuild is asked for or running."""
        return bool(self._asked) or (self._progress is not None and not self._progress.done())

    async def _on_request(self, msg: Msg) -> None:
        if self.busy:
            reply = RebuildReply(accepted=False, reason="a rebuild is already running")
            await msg.respond(_encode(reply))
            return
        self._asked.append(msg)
        self._wake.set()

    async def _interrupt(self, stop: asyncio.Event, interrupt: asyncio.Event) -> None:
        stopping = asyncio.ensure_future(stop.wait())
        asked = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({stopping, asked}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            asked.cancel()
        self._wake.clear()
        interrupt.set()

    async def _restart(self, msg: Msg) -> None:
        process, old = self.process, self.process.projector
        ends = await log_ends_of(process)
        await asyncio.to_thread(process.db.reset_log_views)
        process.projector = await Projector.open(
            process.db,
            Views(old.views.settings),
            old.get_js,
            batch_size=old.batch_size,
            flush_interval_s=old.flush_interval_s,
            wait_s=old.wait_s,
            on_status=old.on_status,
        )
        log.info("projector: rebuilding the views up to MT5 #%d and RISK #%d", *ends)
        await msg.respond(_encode(RebuildReply(accepted=True, total=ends[0] + ends[1])))
        self._progress = asyncio.create_task(self._report(process.projector, ends))

    async def _report(self, projector: Projector, ends: tuple[int, int]) -> None:
        nc, total = self.process.nc, ends[0] + ends[1]
        reached_batches: int | None = None
        while True:
            mt5, risk = projector.positions
            done = min(mt5, ends[0]) + min(risk, ends[1])
            if reached_batches is None and done >= total:
                reached_batches = projector.stats.batches
            finished = reached_batches is not None and (
                projector.idle or projector.stats.batches > reached_batches
            )
            stats = projector.stats
            progress = RebuildProgress(
                done=done,
                total=total,
                finished=finished,
                facts=stats.facts,
                decisions=stats.decisions,
            )
            await nc.publish(subjects.PROJECTOR_REBUILD_PROGRESS, _encode(progress))
            if finished:
                log.info("projector: views rebuilt (%d events)", total)
                return
            await asyncio.sleep(PROGRESS_EVERY_S)


async def log_ends_of(process: ProjectorProcess) -> tuple[int, int]:
    from projections.bootstrap import log_ends  # noqa: PLC0415 - bootstrap wires this module

    return await log_ends(process.nc.jetstream())
