"""One writer per views database: the running projector (or a rebuild) holds this lock.

SQLite: `flock` on `<database file>.lock`, which also names the holder (pid, since when,
what), like the data dir's lock; the kernel releases it on any death. PostgreSQL: a session
advisory lock on a connection of its own. An in-memory database needs none.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from bus.datadir import pid_alive

ADVISORY_KEY: Final = 0x6D74_715F_7669_6577
"""PostgreSQL advisory lock key of mtq's views ("mtq_view")."""


@dataclass(frozen=True)
class ViewsHolder:
    pid: int
    since: str
    command: str

    def alive(self) -> bool:
        return pid_alive(self.pid)


class ViewsLocked(RuntimeError):
    """Another projector holds the views; the message is the one line to print."""

    def __init__(self, message: str, holder: ViewsHolder | None) -> None:
        super().__init__(message)
        self.holder = holder


def lock_path(db_url: str) -> Path | None:
    """The lock file of a SQLite file database (None: in memory, or PostgreSQL)."""
    if db_url.startswith(("postgresql://", "postgres://")):
        return None
    path = db_url.removeprefix("sqlite:///").removeprefix("sqlite://")
    if not path or path == ":memory:" or path.startswith("file::memory:"):
        return None
    return Path(path).with_name(Path(path).name + ".lock")


def read_holder(db_url: str) -> ViewsHolder | None:
    """Who the lock file says holds the views (it may be stale: check `held`)."""
    path = lock_path(db_url)
    if path is None:
        return None
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        return ViewsHolder(int(info["pid"]), str(info["since"]), str(info["command"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


class ViewsLock:
    """An exclusive lock on the views of `db_url`, held until `release()` or death."""

    def __init__(self, db_url: str, command: str = "mtq projector") -> None:
        self.db_url = db_url
        self.command = command
        self._fd: int | None = None
        self._pg: Any = None

    @property
    def held(self) -> bool:
        return self._fd is not None or self._pg is not None

    def acquire(self) -> ViewsLock:
        """Lock the views or raise `ViewsLocked` at once."""
        if self.db_url.startswith(("postgresql://", "postgres://")):
            return self._acquire_postgres()
        path = lock_path(self.db_url)
        if path is None:
            return self
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            holder = read_holder(self.db_url)
            raise ViewsLocked(self._refusal(holder), holder) from None
        info = {
            "pid": os.getpid(),
            "since": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": self.command,
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
        self._fd = fd
        return self

    def _acquire_postgres(self) -> ViewsLock:
        import psycopg  # noqa: PLC0415 - optional dependency, only for PostgreSQL

        conn = psycopg.connect(self.db_url, autocommit=True)
        row = conn.execute("SELECT pg_try_advisory_lock(%s)", (ADVISORY_KEY,)).fetchone()
        if not row or not row[0]:
            conn.close()
            raise ViewsLocked(self._refusal(None), None)
        self._pg = conn
        return self

    def _refusal(self, holder: ViewsHolder | None) -> str:
        who = (
            "another projector"
            if holder is None
            else f"a running projector (pid {holder.pid}, {holder.command}, since {holder.since})"
        )
        return f"the views in {_shown(self.db_url)} are held by {who}"

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)
        conn, self._pg = self._pg, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()


def _shown(db_url: str) -> str:
    """The URL without a password."""
    if "@" in db_url and "://" in db_url:
        scheme, rest = db_url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}" if ":" in creds else db_url
    return db_url
