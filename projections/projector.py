"""Follow MT5 and RISK, each from its own tracked position, and keep the views up to date.

Both logs are read with ephemeral no-ack consumers (`bus.reader.FactReader`) from the
positions committed with the views. They are merged in one deterministic order: a decision
goes before the fact after the one that caused it (every decision body names its fact's
MT5 `seq`); when one log is caught up the other goes on alone. Applied events are saved in
batches, views and both positions in one transaction, so a restart neither loses nor
applies twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Final

from nats.js.client import JetStreamContext

from bus import subjects
from bus.reader import FactReader, RawFact
from projections.db import Database
from projections.views import Views, decision_seq, decode_decision

log = logging.getLogger(__name__)

MT5_FILTERS: Final = (subjects.ALL_FACTS,)
"""The whole MT5 stream (it holds only facts): one filter reads far faster than five."""
RISK_FILTERS: Final = (f"{subjects.RISK_PREFIX}.events.>",)

Publish = Callable[[list[dict[str, Any]]], Awaitable[None]]


@dataclass
class ProjectorStats:
    facts: int = 0
    decisions: int = 0
    batches: int = 0
    rows: int = 0
    started: float = field(default_factory=time.monotonic)
    last_commit: float = 0.0


@dataclass
class _Source:
    reader: FactReader
    buffer: deque[Any] = field(default_factory=deque)
    caught_up: bool = False
    task: asyncio.Task[list[RawFact]] | None = None


class Projector:
    """The projector's loop; `on_status` receives the status docs each commit changed."""

    def __init__(
        self,
        db: Database,
        views: Views,
        get_js: Callable[[], JetStreamContext | None],
        *,
        batch_size: int = 2000,
        flush_interval_s: float = 0.1,
        wait_s: float = 0.25,
        on_status: Publish | None = None,
    ) -> None:
        self.db = db
        self.views = views
        self.get_js = get_js
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self.wait_s = wait_s
        self.on_status = on_status
        self.stats = ProjectorStats()
        self.ready = asyncio.Event()
        """Set once the views are loaded and reading has begun."""
        self._mt5 = _Source(FactReader(get_js, views.mt5_seq + 1, filters=MT5_FILTERS))
        self._risk = _Source(
            FactReader(
                get_js, views.risk_seq + 1, stream=subjects.STREAM_RISK, filters=RISK_FILTERS
            )
        )
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="projector-db")
        self._pending = 0
        self._last_flush = time.monotonic()

    @classmethod
    async def open(
        cls,
        db: Database,
        views: Views,
        get_js: Callable[[], JetStreamContext | None],
        **kwargs: Any,
    ) -> Projector:
        """Load the committed views from `db` and build the projector on them."""
        await asyncio.to_thread(views.load, db)
        return cls(db, views, get_js, **kwargs)

    @property
    def positions(self) -> tuple[int, int]:
        """Last MT5 sequence and RISK notification id applied."""
        return self.views.mt5_seq, self.views.risk_seq

    @property
    def idle(self) -> bool:
        """Both logs read to their end as last fetched, and everything applied committed."""
        return (
            self._mt5.caught_up
            and self._risk.caught_up
            and not self._mt5.buffer
            and not self._risk.buffer
            and not self._pending
        )

    async def run(self, stop: asyncio.Event, *, until: tuple[int, int] | None = None) -> None:
        """Project until `stop` is set (or, with `until`, both logs reached those positions)."""
        self.ready.set()
        try:
            while not stop.is_set():
                if until is not None and self._reached(until):
                    break
                await self._fill(stop)
                self._merge()
                if self._pending and (
                    self._pending >= self.batch_size
                    or time.monotonic() - self._last_flush >= self.flush_interval_s
                    or (self._mt5.caught_up and self._risk.caught_up)
                ):
                    await self.flush()
            await self.flush()
        finally:
            for source in (self._mt5, self._risk):
                if source.task is not None:
                    source.task.cancel()
                    with contextlib.suppress(BaseException):
                        await source.task
                await source.reader.close()
            self._executor.shutdown(wait=True)

    def _reached(self, until: tuple[int, int]) -> bool:
        mt5, risk = self.positions
        return mt5 >= until[0] and risk >= until[1]

    async def _fill(self, stop: asyncio.Event) -> None:
        for source in (self._mt5, self._risk):
            if not source.buffer and source.task is None:
                source.task = asyncio.create_task(source.reader.fetch(self.wait_s))
        if self._can_merge():
            self._harvest()
            return
        tasks = {s.task for s in (self._mt5, self._risk) if s.task is not None}
        timeout = max(0.0, self.flush_interval_s - (time.monotonic() - self._last_flush))
        if tasks:
            await asyncio.wait(
                tasks,
                timeout=timeout if self._pending else None,
                return_when=asyncio.FIRST_COMPLETED,
            )
        self._harvest()

    def _harvest(self) -> None:
        for source, decisions in ((self._mt5, False), (self._risk, True)):
            task = source.task
            if task is None or not task.done():
                continue
            source.task = None
            batch = task.result()
            if decisions:
                for raw in batch:
                    parsed = decode_decision(raw.data)
                    source.buffer.append((raw, parsed, decision_seq(parsed)))
            else:
                source.buffer.extend(batch)
            # An empty fetch may be a timeout on a busy server: caught up only if the last
            # batch said nothing was left (or nothing was ever there).
            source.caught_up = source.reader.pending in ((0, None) if not batch else (0,))

    def _can_merge(self) -> bool:
        facts, decisions = self._mt5.buffer, self._risk.buffer
        if facts and decisions:
            return True
        if facts:
            return self._risk.caught_up
        if decisions:
            return self._mt5.caught_up
        return False

    def _merge(self) -> None:
        facts, decisions = self._mt5.buffer, self._risk.buffer
        views = self.views
        while self._pending < self.batch_size:
            if facts and decisions:
                take_decision = decisions[0][2] < facts[0].seq
            elif facts and self._risk.caught_up:
                take_decision = False
            elif decisions and self._mt5.caught_up:
                take_decision = True
            else:
                return
            if take_decision:
                raw, parsed, _ = decisions.popleft()
                views.apply_decision(
                    raw.seq, raw.subject, parsed if parsed is not None else raw.data
                )
                self.stats.decisions += 1
            else:
                raw = facts.popleft()
                views.apply_fact(raw.seq, raw.subject, raw.data)
                self.stats.facts += 1
            self._pending += 1

    async def flush(self) -> None:
        """Commit what was applied (views and positions in one transaction)."""
        self._last_flush = time.monotonic()
        if not self._pending:
            return
        views = self.views

        def commit() -> int:
            with self.db.transaction() as cur:
                return views.save(cur)

        rows = await asyncio.get_running_loop().run_in_executor(self._executor, commit)
        changed = [views.status[a] for a in views.changed_status()]
        views.clear()
        self.stats.batches += 1
        self.stats.rows += rows
        self.stats.last_commit = time.monotonic()
        self._pending = 0
        if self.on_status is not None and changed:
            try:
                await self.on_status(changed)
            except Exception:
                log.exception("projector: status mirror failed (the views are committed)")
