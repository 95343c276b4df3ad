"""Bounded on-disk outbox: facts wait here, in order, until JetStream acknowledges them."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

log = logging.getLogger(__name__)

# Eviction order when the outbox is full: lowest priority first, oldest first within it.
PRIORITY_TICK: Final = 0
PRIORITY_ACCOUNT: Final = 1
PRIORITY_FACT: Final = 2


@dataclass(frozen=True, slots=True)
class OutgoingFact:
    subject: str
    msg_id: str
    payload: bytes
    priority: int = PRIORITY_FACT
    created: float = 0.0
    """Wall time the agent read the fact from the terminal (0 when unknown)."""


@dataclass(frozen=True, slots=True)
class StoredFact:
    seq: int
    subject: str
    msg_id: str
    payload: bytes


class Outbox:
    """FIFO of facts in the agent's SQLite file, at most `max_messages` long.

    When full, the oldest ticks go first, then the oldest account snapshots, and only then
    the oldest position and order facts; every eviction is counted in `dropped`.
    Writes join the caller's transaction when one is open (`in_transaction`).
    """

    def __init__(self, conn: sqlite3.Connection, max_messages: int = 100_000) -> None:
        if max_messages < 1:
            raise ValueError("max_messages must be at least 1")
        self._conn = conn
        self.max_messages = max_messages
        self.dropped = 0
        self._count = int(conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])

    def recount(self) -> None:
        """Re-read the size (after a rolled-back transaction that appended)."""
        self._count = int(self._conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])

    def __len__(self) -> int:
        return self._count

    @property
    def full(self) -> bool:
        return self._count >= self.max_messages

    def append(self, facts: Iterable[OutgoingFact]) -> int:
        """Add facts at the end, evicting if needed; returns how many were evicted."""
        rows = [(f.priority, f.subject, f.msg_id, f.payload) for f in facts]
        if not rows:
            return 0
        own_tx = not self._conn.in_transaction
        if own_tx:
            self._conn.execute("BEGIN")
        try:
            if len(rows) > self.max_messages:
                rows = self._trim_batch(rows)
            overflow = self._count + len(rows) - self.max_messages
            evicted = self._evict(overflow) if overflow > 0 else 0
            self._conn.executemany(
                "INSERT INTO outbox (priority, subject, msg_id, payload) VALUES (?, ?, ?, ?)",
                rows,
            )
            if own_tx:
                self._conn.execute("COMMIT")
        except BaseException:
            if own_tx:
                self._conn.execute("ROLLBACK")
                self.recount()
            raise
        self._count += len(rows) - evicted
        return evicted

    def _trim_batch(
        self, rows: list[tuple[int, str, str, bytes]]
    ) -> list[tuple[int, str, str, bytes]]:
        """A batch bigger than the whole outbox keeps its highest-priority, newest rows."""
        ranked = sorted(range(len(rows)), key=lambda i: (rows[i][0], i), reverse=True)
        keep = sorted(ranked[: self.max_messages])
        self.dropped += len(rows) - len(keep)
        return [rows[i] for i in keep]

    def _evict(self, n: int) -> int:
        cur = self._conn.execute(
            "DELETE FROM outbox WHERE seq IN "
            "(SELECT seq FROM outbox ORDER BY priority, seq LIMIT ?)",
            (n,),
        )
        evicted = max(0, cur.rowcount)
        if evicted:
            if self.dropped == 0:
                log.warning(
                    "outbox full (%d messages): evicting oldest ticks first", self.max_messages
                )
            self.dropped += evicted
        return evicted

    def peek(self, limit: int = 500) -> list[StoredFact]:
        """The oldest `limit` facts, in order."""
        return [
            StoredFact(int(seq), str(subject), str(msg_id), bytes(payload))
            for seq, subject, msg_id, payload in self._conn.execute(
                "SELECT seq, subject, msg_id, payload FROM outbox ORDER BY seq LIMIT ?", (limit,)
            )
        ]

    def remove_through(self, seq: int) -> None:
        """Delete every fact up to and including `seq` (they were acknowledged)."""
        cur = self._conn.execute("DELETE FROM outbox WHERE seq <= ?", (seq,))
        self._count = max(0, self._count - max(0, cur.rowcount))
