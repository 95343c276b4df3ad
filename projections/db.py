"""The read-model database: SQLite (a WAL file) or PostgreSQL behind one small dialect seam.

Plain DB-API, no ORM: every statement is written once with `?` placeholders and the
PostgreSQL dialect rewrites them to `%s`. Both support `INSERT ... ON CONFLICT DO UPDATE`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final, Protocol

DB_FILE_NAME: Final = "projections.sqlite"
CANDLES_META: Final = "candles"
"""The `proj_meta` row of the candles' position (projections/candle_projector.py)."""

TABLES: Final = (
    "proj_tracking",
    "proj_status",
    "proj_positions",
    "proj_reconciliation",
    "proj_risk",
    "proj_risk_events",
    "proj_equity",
    "proj_meta",
    "proj_trades",
    "proj_candles",
    "proj_trade_days",
    "proj_equity_days",
    "proj_signals",
)

_SCHEMA: Final = (
    "CREATE TABLE IF NOT EXISTS proj_tracking (source TEXT PRIMARY KEY, position BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS proj_status (account_id TEXT PRIMARY KEY, doc TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS proj_positions (account_id TEXT NOT NULL,"
    " identifier BIGINT NOT NULL, state TEXT NOT NULL, symbol TEXT NOT NULL,"
    " opened_msc BIGINT NOT NULL, closed_msc BIGINT, doc TEXT NOT NULL,"
    " PRIMARY KEY (account_id, identifier))",
    "CREATE TABLE IF NOT EXISTS proj_reconciliation (account_id TEXT NOT NULL,"
    " item_id TEXT NOT NULL, status TEXT NOT NULL, since TEXT NOT NULL, live INTEGER NOT NULL,"
    " doc TEXT NOT NULL, PRIMARY KEY (account_id, item_id))",
    "CREATE TABLE IF NOT EXISTS proj_risk (account_id TEXT PRIMARY KEY, doc TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS proj_risk_events (account_id TEXT NOT NULL,"
    " notification_id BIGINT NOT NULL, kind TEXT NOT NULL, time TEXT NOT NULL,"
    " doc TEXT NOT NULL, PRIMARY KEY (account_id, notification_id))",
    "CREATE TABLE IF NOT EXISTS proj_equity (account_id TEXT NOT NULL, minute TEXT NOT NULL,"
    " equity_open DOUBLE PRECISION NOT NULL, equity_high DOUBLE PRECISION NOT NULL,"
    " equity_low DOUBLE PRECISION NOT NULL, equity_close DOUBLE PRECISION NOT NULL,"
    " balance_open DOUBLE PRECISION NOT NULL, balance_high DOUBLE PRECISION NOT NULL,"
    " balance_low DOUBLE PRECISION NOT NULL, balance_close DOUBLE PRECISION NOT NULL,"
    " samples INTEGER NOT NULL, PRIMARY KEY (account_id, minute))",
    "CREATE TABLE IF NOT EXISTS proj_meta (name TEXT PRIMARY KEY, doc TEXT NOT NULL)",
    # the trades view (projections/trades.py): one row per position, final once closed
    "CREATE TABLE IF NOT EXISTS proj_trades (account_id TEXT NOT NULL,"
    " identifier BIGINT NOT NULL, symbol TEXT NOT NULL, side TEXT NOT NULL,"
    " volume DOUBLE PRECISION NOT NULL, magic BIGINT NOT NULL, comment TEXT NOT NULL,"
    " opened_msc BIGINT NOT NULL, closed_msc BIGINT, price_open DOUBLE PRECISION NOT NULL,"
    " close_price DOUBLE PRECISION, sl_open DOUBLE PRECISION NOT NULL,"
    " profit DOUBLE PRECISION, commission DOUBLE PRECISION NOT NULL,"
    " swap DOUBLE PRECISION NOT NULL, fee DOUBLE PRECISION NOT NULL, reason TEXT NOT NULL,"
    " PRIMARY KEY (account_id, identifier))",
    "CREATE INDEX IF NOT EXISTS proj_trades_closed ON proj_trades (account_id, closed_msc)",
    # candles (projections/candles.py): bid OHLC per account, symbol and timeframe
    "CREATE TABLE IF NOT EXISTS proj_candles (account_id TEXT NOT NULL, symbol TEXT NOT NULL,"
    " tf TEXT NOT NULL, start_msc BIGINT NOT NULL, open DOUBLE PRECISION NOT NULL,"
    " high DOUBLE PRECISION NOT NULL, low DOUBLE PRECISION NOT NULL,"
    " close DOUBLE PRECISION NOT NULL, spread DOUBLE PRECISION NOT NULL,"
    " tick_volume BIGINT NOT NULL, real_volume DOUBLE PRECISION NOT NULL,"
    " filled INTEGER NOT NULL, PRIMARY KEY (symbol, tf, account_id, start_msc))",
    # per-day summaries for analytics (projections/trade_days.py, equity_days.py)
    "CREATE TABLE IF NOT EXISTS proj_trade_days (account_id TEXT NOT NULL, day TEXT NOT NULL,"
    " dim TEXT NOT NULL, key TEXT NOT NULL, doc TEXT NOT NULL,"
    " PRIMARY KEY (account_id, day, dim, key))",
    "CREATE TABLE IF NOT EXISTS proj_equity_days (account_id TEXT NOT NULL, day TEXT NOT NULL,"
    " through TEXT NOT NULL, doc TEXT NOT NULL, PRIMARY KEY (account_id, day))",
    # signals (projections/signals.py): one row per signal and account
    "CREATE TABLE IF NOT EXISTS proj_signals (signal_id TEXT NOT NULL, account_id TEXT NOT NULL,"
    " status TEXT NOT NULL, approval_status TEXT, command_id TEXT NOT NULL,"
    " received_at TEXT NOT NULL, updated_at TEXT NOT NULL, doc TEXT NOT NULL,"
    " PRIMARY KEY (signal_id, account_id))",
    "CREATE INDEX IF NOT EXISTS proj_signals_received ON proj_signals (received_at, signal_id)",
    "CREATE INDEX IF NOT EXISTS proj_signals_approval ON proj_signals (approval_status)",
)


class Connection(Protocol):
    def cursor(self) -> Any: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...

    def close(self) -> None: ...


class Database:
    """One connection and its dialect; not thread-safe: use it from one thread at a time."""

    def __init__(self, url: str, conn: Connection, *, postgres: bool) -> None:
        self.url = url
        self.postgres = postgres
        self._conn = conn

    def _sql(self, statement: str) -> str:
        return statement.replace("?", "%s") if self.postgres else statement

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """A cursor inside one transaction: committed on exit, rolled back on error."""
        cur = self._conn.cursor()
        try:
            if not self.postgres:
                cur.execute("BEGIN IMMEDIATE")
            yield _Cursor(cur, self._sql)
        except BaseException:
            self._conn.rollback()
            raise
        else:
            self._conn.commit()
        finally:
            cur.close()

    def query(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of one read-only statement (its own short transaction)."""
        cur = self._conn.cursor()
        try:
            cur.execute(self._sql(statement), tuple(params))
            rows = [tuple(r) for r in cur.fetchall()]
        finally:
            cur.close()
        self._conn.commit()  # end the read transaction: the next read sees new commits
        return rows

    def create_schema(self) -> None:
        with self.transaction() as cur:
            for statement in _SCHEMA:
                cur.execute(statement)

    def drop_views(self) -> None:
        """Drop every table (views and positions) for a rebuild."""
        with self.transaction() as cur:
            for table in TABLES:
                cur.execute(f"DROP TABLE IF EXISTS {table}")
        self.create_schema()

    def reset_log_views(self) -> None:
        """Drop the views of MT5 and RISK for a live rebuild; the candles (and their position),
        made from MT5_TICKS alone, stay."""
        kept = ("proj_candles", "proj_meta")
        with self.transaction() as cur:
            for table in TABLES:
                if table not in kept:
                    cur.execute(f"DROP TABLE IF EXISTS {table}")
            cur.execute("DELETE FROM proj_meta WHERE name <> ?", (CANDLES_META,))
        self.create_schema()

    def close(self) -> None:
        self._conn.close()


class _Cursor:
    def __init__(self, cur: Any, sql: Any) -> None:
        self._cur = cur
        self._sql = sql

    def execute(self, statement: str, params: Sequence[Any] = ()) -> None:
        self._cur.execute(self._sql(statement), tuple(params))

    def executemany(self, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self._cur.executemany(self._sql(statement), [tuple(r) for r in rows])

    def fetchall(self) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self._cur.fetchall()]


def default_url(data_dir: Path) -> str:
    """The SQLite file in the data dir."""
    return f"sqlite:///{(data_dir / DB_FILE_NAME).resolve()}"


def open_database(url: str, *, create: bool = True) -> Database:
    """Connect to `sqlite:///PATH` (or a plain path) or `postgresql://…`; create the tables."""
    if url.startswith(("postgresql://", "postgres://")):
        import psycopg  # noqa: PLC0415 - optional dependency, only for PostgreSQL

        pg = psycopg.connect(url, autocommit=False)
        db = Database(url, pg, postgres=True)
    else:
        path = Path(url.removeprefix("sqlite:///").removeprefix("sqlite://"))
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        db = Database(url, _SqliteConnection(conn), postgres=False)
    if create:
        db.create_schema()
    return db


class _SqliteConnection:
    """sqlite3 in autocommit mode with explicit BEGIN/COMMIT (no implicit transactions)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def cursor(self) -> sqlite3.Cursor:
        return self._conn.cursor()

    def commit(self) -> None:
        if self._conn.in_transaction:
            self._conn.execute("COMMIT")

    def rollback(self) -> None:
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")

    def close(self) -> None:
        self._conn.close()
