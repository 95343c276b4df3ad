"""The read models as the HTTP API reads them: in-process, on the projector's database.

Status documents (what `GET /accounts` answers, a thousand times a second) are kept in
memory: reloaded whenever the projector commits (its tracked positions change) and
re-rendered every second, since a stale heartbeat turns UNHEALTHY with time alone. Every
other view is one query on a read connection of its own, off the event loop.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import msgspec

from projections import queries
from projections.db import Database, open_database
from projections.queries import UnknownAccount
from projections.settings import AccountSettings

T = TypeVar("T")
_encode = msgspec.json.Encoder().encode


@dataclass
class StatusSnapshot:
    """Every account's status doc as of `taken`, and its JSON."""

    docs: dict[str, dict[str, Any]] = field(default_factory=dict)
    rendered: dict[str, bytes] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    taken: float = 0.0


class ReadModels:
    """One read connection to the views (used from one thread) and the status snapshot."""

    def __init__(
        self,
        db_url: str,
        settings: Mapping[str, AccountSettings],
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        rerender_s: float = 1.0,
    ) -> None:
        self.db_url = db_url
        self.settings = settings
        self.clock = clock
        self.rerender_s = rerender_s
        self.snapshot = StatusSnapshot()
        self._db: Database | None = None
        self._raw: dict[str, dict[str, Any]] = {}
        self._token: tuple[tuple[Any, ...], ...] | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="api-views")

    async def run(self, work: Callable[[Database], T]) -> T:
        """`work(db)` on the read thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._with_db, work)

    def _with_db(self, work: Callable[[Database], T]) -> T:
        if self._db is None:
            self._db = open_database(self.db_url)
        return work(self._db)

    async def refresh(self) -> bool:
        """Reload status docs if the projector committed; re-render when due. True: changed."""
        return await self.run(self._refresh)

    def _refresh(self, db: Database) -> bool:
        token = tuple(sorted(queries.tracking(db).items()))
        reload = token != self._token
        if reload:
            self._raw = queries.status_docs(db)
            self._token = token
        elif time.monotonic() - self.snapshot.taken < self.rerender_s:
            return False
        self._render()
        return reload

    def _render(self) -> None:
        now = self.clock()
        snap = StatusSnapshot(taken=time.monotonic(), order=sorted(self._raw))
        for account_id in snap.order:
            doc = queries.render_status(account_id, self._raw[account_id], now, self.settings)
            snap.docs[account_id] = doc
            snap.rendered[account_id] = _encode(doc)
        self.snapshot = snap

    def status(self, account_id: str) -> bytes:
        """One account's status JSON; UnknownAccount when the views have none."""
        found = self.snapshot.rendered.get(account_id)
        if found is None:
            raise UnknownAccount(account_id)
        return found

    def known(self, account_id: str) -> bool:
        return account_id in self.snapshot.docs or account_id in self.settings

    def require(self, account_id: str) -> None:
        if account_id not in self.snapshot.docs:
            raise UnknownAccount(account_id)

    def close(self) -> None:
        self._executor.submit(self._close_db).result()
        self._executor.shutdown(wait=True)

    def _close_db(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


def accounts_page(
    snap: StatusSnapshot,
    *,
    health: Sequence[str],
    trading: Sequence[str],
    after: str | None,
    limit: int,
) -> tuple[list[bytes], str | None]:
    """A page of rendered status docs after account `after`, and the last id if more follow."""
    picked: list[bytes] = []
    last: str | None = None
    for account_id in snap.order:
        if after is not None and account_id <= after:
            continue
        doc = snap.docs[account_id]
        if health and doc["health"]["status"] not in health:
            continue
        if trading and doc["trading"]["state"] not in trading:
            continue
        if len(picked) == limit:
            return picked, last
        picked.append(snap.rendered[account_id])
        last = account_id
    return picked, None


def page_json(items: Sequence[bytes], next_cursor: str | None, **extra: Any) -> bytes:
    """`{"items": [...], "next_cursor": ..., **extra}` from already rendered items."""
    head = b'{"items":[' + b",".join(items) + b'],"next_cursor":' + _encode(next_cursor)
    for key, value in extra.items():
        head += b',"' + key.encode() + b'":' + _encode(value)
    return head + b"}"
