"""Pipelined group commit: decisions of many facts, one atomic write, one write in flight.

The engine decides the next facts while the previous group is being written. Each group
is one `insert_events(..., tracking=...)`: its events and the highest fact sequence they
follow from commit together or not at all, so a crash neither loses nor doubles a decision.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from eventsourcing.persistence import IntegrityError, OperationalError, Tracking

from engine.store import UPSTREAM, RiskStore

log = logging.getLogger(__name__)

MAX_GROUP_EVENTS = 800
"""Close a group below nats-server's 1000-message atomic batch (tracking and slack)."""
RETRY_DELAYS_S = (0.1, 0.25, 0.5, 1.0, 2.0)


class EngineFenced(RuntimeError):
    """Another writer moved the tracking record: this engine must stop."""


def _new_future() -> asyncio.Future[None]:
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    # A failed group may have no waiter; the failure is raised by the engine loop instead.
    future.add_done_callback(lambda f: f.cancelled() or f.exception())
    return future


@dataclass
class Group:
    events: list[Any]
    last_seq: int
    snapshots: list[Any] = field(default_factory=list)
    done: asyncio.Future[None] = field(default_factory=_new_future)


class CommitPipeline:
    """Writes groups in order on a worker thread; at most `depth` groups wait."""

    def __init__(self, store: RiskStore, *, depth: int = 1) -> None:
        self._store = store
        self._queue: asyncio.Queue[Group | None] = asyncio.Queue(maxsize=depth)
        self._worker: asyncio.Task[None] | None = None
        self.committed_seq = 0
        self.commits = 0
        self.events_committed = 0
        self.last_commit_at = time.monotonic()
        self.failure: BaseException | None = None

    def start(self, committed_seq: int) -> None:
        self.committed_seq = committed_seq
        self._worker = asyncio.get_running_loop().create_task(self._run())

    @property
    def idle(self) -> bool:
        return self._queue.empty() and not self._busy

    _busy = False

    async def submit(
        self, events: list[Any], last_seq: int, snapshots: Sequence[Any] = ()
    ) -> Group:
        """Queue a group (waits while the queue is full); its `done` resolves on commit."""
        if self.failure is not None:
            raise self.failure
        group = Group(events, last_seq, list(snapshots))
        await self._queue.put(group)
        return group

    async def close(self) -> None:
        """Write what is queued, then stop the worker."""
        if self._worker is None:
            return
        if not self._worker.done():
            await self._queue.put(None)
            with contextlib.suppress(Exception):
                await self._worker
        self._worker = None

    async def _run(self) -> None:
        while True:
            group = await self._queue.get()
            if group is None:
                return
            self._busy = True
            try:
                await self._commit(group)
            except BaseException as exc:  # noqa: BLE001 - handed to whoever awaits the group
                self.failure = exc
                if not group.done.done():
                    group.done.set_exception(exc)
                self._fail_queued(exc)
                return
            finally:
                self._busy = False
            if not group.done.done():
                group.done.set_result(None)

    def _fail_queued(self, exc: BaseException) -> None:
        while not self._queue.empty():
            queued = self._queue.get_nowait()
            if queued is not None and not queued.done.done():
                queued.done.set_exception(exc)

    async def _commit(self, group: Group) -> None:
        advances = group.last_seq > self.committed_seq
        if not advances and not group.events:
            return
        stored = [self._store.mapper.to_stored_event(e) for e in group.events]
        # Decisions made on no new fact (pre-trade, control) carry no tracking position.
        tracking = Tracking(UPSTREAM, group.last_seq) if advances else None
        attempt = 0
        while True:
            try:
                await asyncio.to_thread(self._insert, stored, tracking)
                break
            except OperationalError as exc:
                delay = RETRY_DELAYS_S[min(attempt, len(RETRY_DELAYS_S) - 1)]
                log.warning("commit of %d decisions failed (%s); retrying", len(stored), exc)
                await asyncio.sleep(delay)
                attempt += 1
            except IntegrityError as exc:
                if attempt and await self._landed(tracking, stored):
                    break  # an earlier attempt was stored; its answer was lost
                raise EngineFenced(f"RISK refused the decisions: {exc}") from exc
        if tracking is not None:
            self.committed_seq = tracking.notification_id
        self.commits += 1
        self.events_committed += len(stored)
        self.last_commit_at = time.monotonic()
        if group.snapshots:
            await asyncio.to_thread(self._write_snapshots, group.snapshots)

    def _insert(self, stored: list[Any], tracking: Tracking | None) -> None:
        if tracking is None:
            self._store.recorder.insert_events(stored)
        else:
            self._store.recorder.insert_events(stored, tracking=tracking)

    async def _landed(self, tracking: Tracking | None, stored: list[Any]) -> bool:
        if tracking is not None:
            current = await asyncio.to_thread(self._store.recorder.max_tracking_id, UPSTREAM)
            return current == tracking.notification_id
        first = stored[0]
        found = await asyncio.to_thread(
            self._store.recorder.select_events,
            first.originator_id,
            gt=first.originator_version - 1,
            lte=first.originator_version,
        )
        return bool(found) and found[0].state == first.state

    def _write_snapshots(self, snapshots: list[Any]) -> None:
        for snapshot in snapshots:
            try:
                self._store.snapshots.insert_events([snapshot])
            except IntegrityError:
                pass  # this version was snapshotted before (a replay after a restart)
            except OperationalError as exc:
                log.warning("snapshot not written (%s); the next one will be", exc)
