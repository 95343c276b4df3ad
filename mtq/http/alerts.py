"""Alerts: which decisions and status changes people hear about, and their record.

An alert is raised once per source (a decision's notification id, an agent's last
heartbeat), so a restarted API that reads the same events again raises nothing twice.
Every alert and every webhook delivery (status, attempts, last error) is kept in a small
SQLite file of the API's own (`api-alerts.sqlite` in the data dir) and served at `/alerts`.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from config.models import ALERT_KINDS

DB_FILE_NAME: Final = "api-alerts.sqlite"
DECISION_ALERTS: Final = frozenset(ALERT_KINDS) - {"AgentUnhealthy", "BusUnreachable"}
BUS_ACCOUNT: Final = "*"
"""The account an alert about the whole bus is filed under."""
STARTING_STATES: Final = frozenset({"CREATED", "STARTING", "RESTARTING"})
START_GRACE_S: Final = 60.0
"""How long a (re)started agent may go without its first heartbeat before an unhealthy
status alerts: a start on a loaded machine takes seconds, a hung one is caught after."""

_SCHEMA: Final = (
    "CREATE TABLE IF NOT EXISTS alerts (id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " source TEXT NOT NULL UNIQUE, time TEXT NOT NULL, account_id TEXT NOT NULL,"
    " kind TEXT NOT NULL, summary TEXT NOT NULL, data TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS deliveries (id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " alert_id INTEGER NOT NULL, webhook TEXT NOT NULL, url TEXT NOT NULL,"
    " status TEXT NOT NULL, attempts INTEGER NOT NULL, last_status_code INTEGER,"
    " last_error TEXT, updated TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS deliveries_alert ON deliveries (alert_id)",
    "CREATE TABLE IF NOT EXISTS positions (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
)


@dataclass(frozen=True)
class AlertRecord:
    id: int
    time: str
    account_id: str
    kind: str
    summary: str
    data: dict[str, Any]


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def _warning(d: Mapping[str, Any]) -> str:
    return (
        f"{d.get('rule')} drawdown warning: equity {_fmt(d.get('value'))} crossed the warning "
        f"level {_fmt(d.get('warning_level'))} (floor {_fmt(d.get('floor'))})"
    )


def _breach(d: Mapping[str, Any]) -> str:
    return (
        f"{d.get('rule')} limit breached: equity {_fmt(d.get('value'))}, floor "
        f"{_fmt(d.get('floor'))}; action {d.get('action')}"
    )


def _pending(d: Mapping[str, Any]) -> str:
    return (
        f"liquidation pending ({d.get('rule')}): {d.get('reason')}; positions close at "
        f"{d.get('grace_end')} unless it recovers"
    )


def _ordered(d: Mapping[str, Any]) -> str:
    tickets = d.get("tickets") or ()
    return f"liquidation ordered: {d.get('reason')} ({len(tickets)} position(s) to close)"


def _cancelled(d: Mapping[str, Any]) -> str:
    return (
        f"liquidation cancelled ({d.get('rule')}): equity {_fmt(d.get('value'))} recovered "
        f"above floor {_fmt(d.get('floor'))}; {_fmt(d.get('grace_used'))} s of grace used today"
    )


def _close(d: Mapping[str, Any]) -> str:
    return (
        f"position {d.get('identifier')} (ticket {d.get('ticket')}, {_fmt(d.get('volume'))} lots)"
        f" ordered closed: {d.get('reason')}"
    )


def _stale(d: Mapping[str, Any]) -> str:
    return (
        f"account data stale: no snapshot since {d.get('last_snapshot')} with "
        f"{d.get('positions')} position(s) open; action {d.get('action')}"
    )


def _restored(d: Mapping[str, Any]) -> str:
    return f"account data restored (stale since {d.get('stale_since')})"


def _schedule_warning(d: Mapping[str, Any]) -> str:
    return (
        f"{d.get('label') or d.get('rule')}: positions close at {d.get('due')} "
        f"({d.get('positions')} open now)"
    )


def _flattened(d: Mapping[str, Any]) -> str:
    return (
        f"{d.get('label') or d.get('rule')}: flat at {d.get('due')}, {d.get('positions')} "
        f"position(s) closed; no new exposure until {d.get('reopens')}"
    )


def _passed(d: Mapping[str, Any]) -> str:
    objectives: Mapping[str, Any] = d.get("objectives") or {}
    met = ", ".join(
        f"{k} {v.get('value')} (target {v.get('target')})" for k, v in objectives.items()
    )
    return f"challenge passed: {met}"


def _failed(d: Mapping[str, Any]) -> str:
    return f"challenge failed: {d.get('reason')} (rule {d.get('rule')})"


def _state(d: Mapping[str, Any]) -> str:
    return (
        f"trading {d.get('previous')} -> {d.get('state')}: {d.get('reason')} (by {d.get('actor')})"
    )


def _news(d: Mapping[str, Any]) -> str:
    return str(d.get("reason"))


def _group(d: Mapping[str, Any]) -> str:
    return str(d.get("reason"))


SUMMARIES: Final[dict[str, Callable[[Mapping[str, Any]], str]]] = {
    "DrawdownWarning": _warning,
    "DrawdownBreached": _breach,
    "LiquidationPending": _pending,
    "LiquidationCancelled": _cancelled,
    "LiquidationOrdered": _ordered,
    "PositionCloseOrdered": _close,
    "TradingStateChanged": _state,
    "FeedStale": _stale,
    "FeedRestored": _restored,
    "ScheduleWarning": _schedule_warning,
    "ScheduleFlattened": _flattened,
    "ChallengePassed": _passed,
    "ChallengeFailed": _failed,
    "NewsStopNearWindow": _news,
    "NewsWindowViolation": _news,
    "CrossHedgeDetected": _group,
    "GroupLimitViolated": _group,
}
REPEAT_AFTER_S: Final = 60.0
"""An alert of one cause (account, kind, rule or state or reason) is raised at most once in
this many seconds of decision time; a liquidation order is always raised."""
ALWAYS_RAISED: Final = frozenset({"LiquidationOrdered"})


def alert_cause(kind: str, data: Mapping[str, Any]) -> tuple[str, str, str]:
    """What makes two alerts the same: account, kind and the rule, state or reason."""
    detail = data.get("rule") or data.get("state") or data.get("reason") or ""
    return str(data.get("account_id", "")), kind, str(detail)


class RepeatFilter:
    """Drops an alert whose cause was raised less than REPEAT_AFTER_S ago (decision time)."""

    def __init__(self, window_s: float = REPEAT_AFTER_S) -> None:
        self.window_s = window_s
        self._last: dict[tuple[str, str, str], datetime] = {}
        self.dropped = 0

    def admits(self, kind: str, data: Mapping[str, Any], at: str) -> bool:
        if kind in ALWAYS_RAISED:
            return True
        try:
            when = datetime.fromisoformat(at)
        except ValueError:
            return True
        cause = alert_cause(kind, data)
        last = self._last.get(cause)
        if last is not None and abs((when - last).total_seconds()) < self.window_s:
            self.dropped += 1
            return False
        self._last[cause] = when
        return True


def decision_alert(kind: str, data: Mapping[str, Any]) -> str | None:
    """The summary of the alert a decision raises, or None when it raises none."""
    summary = SUMMARIES.get(kind)
    return None if summary is None else summary(data)


def unhealthy_alert(doc: Mapping[str, Any], now: datetime | None = None) -> tuple[str, str] | None:
    """(source, summary) of an UNHEALTHY status doc, or None when the agent is not.

    None too while the agent is starting: its lifecycle says so, or its last heartbeat is
    from before its current run began (the old run's), for up to `START_GRACE_S`.
    """
    health = doc.get("health") or {}
    if health.get("status") != "UNHEALTHY" or _starting(doc, now or datetime.now(UTC)):
        return None
    beat = (doc.get("heartbeat") or {}).get("time") or "never"
    details = "; ".join(health.get("details") or health.get("reasons") or ["unhealthy"])
    return f"unhealthy:{doc.get('account_id')}:{beat}", f"agent UNHEALTHY: {details}"


def bus_alert(bus: Mapping[str, Any]) -> tuple[str, str] | None:
    """(source, summary) of the bus problem the supervisor reports now, or None.

    One alert per outage (its start is the source), instead of one AgentUnhealthy per agent.
    The API usually learns of an outage only once the bus answers again: the last one is
    alerted then.
    """
    problem = bus.get("current") or bus.get("last")
    if not isinstance(problem, Mapping):
        return None
    started = problem.get("started") or "?"
    ended = problem.get("ended")
    when = f"from {started} to {ended}" if ended else f"since {started}"
    return (
        f"bus:{started}",
        f"NATS unreachable {when}: {problem.get('cause')}; the agents are alive and none is "
        "restarted for it",
    )


def missed_heartbeats(doc: Mapping[str, Any]) -> bool:
    """The status doc is UNHEALTHY only because heartbeats stopped arriving (the bus's or
    the agent's fault: the bus watch tells which)."""
    health = doc.get("health") or {}
    return health.get("status") == "UNHEALTHY" and "heartbeat_missed" in (
        health.get("reasons") or ()
    )


class BusQuiet:
    """While the bus is down, and for a heartbeat timeout after, missed heartbeats are the
    bus's, not the agents': their AgentUnhealthy is not raised."""

    def __init__(self, after_s: float) -> None:
        self.after_s = after_s
        self.down = False
        self.until: datetime | None = None

    def observe(self, bus: Mapping[str, Any]) -> None:
        self.down = bus.get("state") == "unreachable"
        last = bus.get("last")
        ended = last.get("ended") if isinstance(last, Mapping) else None
        if isinstance(ended, str):
            try:
                self.until = datetime.fromisoformat(ended) + timedelta(seconds=self.after_s)
            except ValueError:
                self.until = None

    def quiet(self, now: datetime) -> bool:
        return self.down or (self.until is not None and now < self.until)


def _starting(doc: Mapping[str, Any], now: datetime) -> bool:
    life = doc.get("lifecycle") or {}
    if life.get("state") in STARTING_STATES:
        return True
    since, beat = life.get("since"), (doc.get("heartbeat") or {}).get("time")
    if since is None:
        return False
    started = datetime.fromisoformat(since)
    if beat is not None and datetime.fromisoformat(beat) >= started:
        return False
    return (now - started).total_seconds() < START_GRACE_S


def _now() -> str:
    return datetime.now(UTC).isoformat()


class AlertStore:
    """Alerts and deliveries in SQLite (a file, or in memory); safe from any thread."""

    def __init__(self, path: Path | None) -> None:
        target = str(path) if path is not None else ":memory:"
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            if path is not None:
                self._conn.execute("PRAGMA journal_mode=WAL")
            for statement in _SCHEMA:
                self._conn.execute(statement)

    def add(
        self,
        source: str,
        *,
        time: str,
        account_id: str,
        kind: str,
        summary: str,
        data: Mapping[str, Any],
    ) -> AlertRecord | None:
        """Record an alert; None when one from `source` exists already."""
        with self._lock:
            cur = self._conn.execute(
                "INSERT OR IGNORE INTO alerts (source, time, account_id, kind, summary, data)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (source, time, account_id, kind, summary, json.dumps(dict(data), default=str)),
            )
            if cur.rowcount == 0:
                return None
            alert_id = int(cur.lastrowid or 0)
        return AlertRecord(alert_id, time, account_id, kind, summary, dict(data))

    def add_delivery(self, alert_id: int, webhook: str, url: str) -> int:
        with self._lock:
            cur = self._conn.execute(
                "INSERT INTO deliveries (alert_id, webhook, url, status, attempts, updated)"
                " VALUES (?, ?, ?, 'pending', 0, ?)",
                (alert_id, webhook, url, _now()),
            )
            return int(cur.lastrowid or 0)

    def attempt(
        self, delivery_id: int, *, status: str, attempts: int, code: int | None, error: str | None
    ) -> None:
        with self._lock:
            self._conn.execute(
                "UPDATE deliveries SET status = ?, attempts = ?, last_status_code = ?,"
                " last_error = ?, updated = ? WHERE id = ?",
                (status, attempts, code, error, _now(), delivery_id),
            )

    def unfinished(self) -> list[tuple[int, int, str, int]]:
        """(delivery id, alert id, webhook, attempts) of deliveries not delivered nor dead."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, alert_id, webhook, attempts FROM deliveries"
                " WHERE status IN ('pending', 'retrying') ORDER BY id"
            ).fetchall()
        return [(int(a), int(b), str(c), int(d)) for a, b, c, d in rows]

    def get(self, alert_id: int) -> AlertRecord | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT id, time, account_id, kind, summary, data FROM alerts WHERE id = ?",
                (alert_id,),
            ).fetchone()
        if row is None:
            return None
        return AlertRecord(row[0], row[1], row[2], row[3], row[4], json.loads(row[5]))

    def page(
        self, *, account_id: str | None, kinds: tuple[str, ...], before: int | None, limit: int
    ) -> tuple[list[dict[str, Any]], int | None]:
        """Newest first, with their deliveries; the last id when more follow."""
        clauses: list[str] = []
        params: list[Any] = []
        if account_id:
            clauses.append("account_id = ?")
            params.append(account_id)
        if kinds:
            clauses.append("kind IN (" + ", ".join("?" for _ in kinds) + ")")
            params.extend(kinds)
        if before is not None:
            clauses.append("id < ?")
            params.append(before)
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, time, account_id, kind, summary, data FROM alerts"
                f"{where} ORDER BY id DESC LIMIT ?",
                (*params, limit + 1),
            ).fetchall()
            items = [self._with_deliveries(row) for row in rows[:limit]]
        return items, (items[-1]["id"] if len(rows) > limit else None)

    def _with_deliveries(self, row: tuple[Any, ...]) -> dict[str, Any]:
        deliveries = self._conn.execute(
            "SELECT id, webhook, url, status, attempts, last_status_code, last_error, updated"
            " FROM deliveries WHERE alert_id = ? ORDER BY id",
            (row[0],),
        ).fetchall()
        keys = (
            "id",
            "webhook",
            "url",
            "status",
            "attempts",
            "last_status_code",
            "last_error",
            "updated",
        )
        return {
            "id": row[0],
            "time": row[1],
            "account_id": row[2],
            "kind": row[3],
            "summary": row[4],
            "data": json.loads(row[5]),
            "deliveries": [dict(zip(keys, d, strict=True)) for d in deliveries],
        }

    def position(self, name: str) -> int | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT value FROM positions WHERE name = ?", (name,)
            ).fetchone()
        return None if row is None else int(row[0])

    def set_position(self, name: str, value: int) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT INTO positions (name, value) VALUES (?, ?)"
                " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (name, value),
            )

    def close(self) -> None:
        with self._lock:
            self._conn.close()
