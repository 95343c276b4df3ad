"""Follow MT5_TICKS from its tracked position and keep the candles view (`candles.py`).

Its position is `proj_meta` row `candles` (`{"ticks_seq": N}`), committed with the bars in
one transaction: a restart neither loses nor counts a tick twice. MT5_TICKS is kept in
memory by the server; when it was created anew (its last sequence is below the position),
reading starts again from its first tick, and bars already written stay.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Final

from nats.js.client import JetStreamContext
from nats.js.errors import NotFoundError

from bus import subjects
from bus.codec import DecodeError, decode_fact
from bus.reader import FactReader, RawFact
from bus.schemas import TickReceived
from projections.candles import CandleBook, load_candle
from projections.db import Database

log = logging.getLogger(__name__)
META_NAME: Final = "candles"
_UPSERT_META: Final = (
    "INSERT INTO proj_meta (name, doc) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET"
    " doc = excluded.doc"
)


@dataclass
class CandleStats:
    ticks: int = 0
    skipped: int = 0
    commits: int = 0


def load_position(db: Database) -> int:
    for (doc,) in db.query("SELECT doc FROM proj_meta WHERE name = ?", [META_NAME]):
        return int(json.loads(doc).get("ticks_seq", 0))
    return 0


class CandleProjector:
    """Reads ticks and commits them with their position in batches (at most every
    `flush_interval_s`, or `batch` ticks, or when the stream is caught up): few write
    transactions beside the projector's on the same database."""

    def __init__(
        self,
        db: Database,
        get_js: Callable[[], JetStreamContext | None],
        *,
        position: int = 0,
        batch: int = 5000,
        wait_s: float = 0.25,
        flush_interval_s: float = 0.5,
    ) -> None:
        self.db = db
        self.get_js = get_js
        self.position = position
        self.batch = batch
        self.wait_s = wait_s
        self.flush_interval_s = flush_interval_s
        self.book = CandleBook(lambda series, start: load_candle(db, series, start))
        self.stats = CandleStats()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="candles-db")

    @classmethod
    async def open(
        cls, db: Database, get_js: Callable[[], JetStreamContext | None], *, batch: int = 5000
    ) -> CandleProjector:
        """The projector at the position committed in `db`."""
        position = await asyncio.to_thread(load_position, db)
        return cls(db, get_js, position=position, batch=batch)

    async def run(self, stop: asyncio.Event, *, until: int | None = None) -> None:
        """Project ticks until `stop` is set (or, with `until`, that tick is applied)."""
        await self._restart_if_recreated()
        reader = FactReader(
            self.get_js,
            self.position + 1,
            stream=subjects.STREAM_TICKS,
            filters=subjects.TICKS_SUBJECTS,
            batch=self.batch,
        )
        pending: list[RawFact] = []
        last_commit = time.monotonic()
        try:
            while not stop.is_set() and (until is None or self.position < until):
                ticks = await reader.fetch(self.wait_s)
                pending.extend(ticks)
                due = time.monotonic() - last_commit >= self.flush_interval_s
                reached = until is not None and bool(pending) and pending[-1].seq >= until
                if pending and (len(pending) >= self.batch or due or not ticks or reached):
                    await asyncio.get_running_loop().run_in_executor(
                        self._executor, self._commit, pending
                    )
                    pending, last_commit = [], time.monotonic()
        finally:
            await reader.close()
            self._executor.shutdown(wait=True)

    async def _restart_if_recreated(self) -> None:
        js = self.get_js()
        if js is None or not self.position:
            return
        with contextlib.suppress(NotFoundError):
            info = await js.stream_info(subjects.STREAM_TICKS)
            if int(info.state.last_seq) < self.position:
                log.info("candles: MT5_TICKS was created anew; reading it from its start")
                self.position = 0

    def _commit(self, ticks: list[RawFact]) -> None:
        for raw in ticks:
            try:
                tick = decode_fact(raw.subject, raw.data)
            except DecodeError:
                self.stats.skipped += 1
                continue
            match tick:
                case TickReceived():
                    self.book.apply(tick)
                    self.stats.ticks += 1
                case _:
                    self.stats.skipped += 1
        position = ticks[-1].seq
        try:
            with self.db.transaction() as cur:
                self.book.save(cur)
                cur.execute(_UPSERT_META, [META_NAME, json.dumps({"ticks_seq": position})])
        except BaseException:
            self.book = CandleBook(self.book.load)  # the database is the truth again
            raise
        self.book.clear()
        self.position = position
        self.stats.commits += 1
