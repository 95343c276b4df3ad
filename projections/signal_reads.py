"""Reads of the signals view (`proj_signals`): a signal's rows, approvals, recent signals.

An approval is the approval side of one row: `approval_id` is `<signal_id>:<account_id>`
(account ids hold no colon, so the last one splits it).
"""

from __future__ import annotations

from typing import Any, Final

from projections.db import Database
from projections.views import loads

APPROVAL_FIELDS: Final = (
    "approval_id",
    "signal_id",
    "account_id",
    "strategy",
    "symbol",
    "side",
    "order_type",
    "price",
    "volume",
    "sl",
    "tp",
    "comment",
    "actor",
    "reason",
    "received_at",
    "expires_at",
    "decided_at",
)


def signal(db: Database, signal_id: str) -> list[dict[str, Any]]:
    """One row per account the signal went to, by account id (empty: unknown signal)."""
    rows = db.query(
        "SELECT doc FROM proj_signals WHERE signal_id = ? ORDER BY account_id", [signal_id]
    )
    return [loads(doc) for (doc,) in rows]


def split_approval_id(approval_id: str) -> tuple[str, str] | None:
    signal_id, sep, account_id = approval_id.rpartition(":")
    return (signal_id, account_id) if sep and signal_id and account_id else None


def approval(db: Database, approval_id: str) -> dict[str, Any] | None:
    """The approval with this id (None: unknown, or its signal asked for none)."""
    key = split_approval_id(approval_id)
    if key is None:
        return None
    rows = db.query(
        "SELECT doc FROM proj_signals WHERE signal_id = ? AND account_id = ?", list(key)
    )
    if not rows:
        return None
    return as_approval(loads(rows[0][0]))


def as_approval(row: dict[str, Any]) -> dict[str, Any]:
    """The approval side of a signal row; `status` is the approval's, `signal_status` the row's."""
    found = {k: row.get(k) for k in APPROVAL_FIELDS}
    status = row.get("approval_status")
    found["status"] = status
    found["signal_status"] = row["status"]
    found["manual"] = row.get("approval") == "manual"
    if status == "pending":
        found["actor"], found["reason"] = None, ""
    return found


def approvals(
    db: Database,
    *,
    status: str | None,
    account_id: str | None,
    after: tuple[str, str, str] | None,
    limit: int,
) -> tuple[list[dict[str, Any]], tuple[str, str, str] | None]:
    """Approvals oldest first (received_at, signal id, account id), and the next page's key."""
    clauses = ["approval_status IS NOT NULL"]
    params: list[Any] = []
    if status is not None:
        clauses.append("approval_status = ?")
        params.append(status)
    if account_id is not None:
        clauses.append("account_id = ?")
        params.append(account_id)
    if after is not None:
        clauses.append(
            "(received_at > ? OR (received_at = ? AND (signal_id > ?"
            " OR (signal_id = ? AND account_id > ?))))"
        )
        params.extend([after[0], after[0], after[1], after[1], after[2]])
    rows = db.query(
        f"SELECT received_at, signal_id, account_id, doc FROM proj_signals"
        f" WHERE {' AND '.join(clauses)}"
        f" ORDER BY received_at, signal_id, account_id LIMIT {int(limit) + 1}",
        params,
    )
    items = [as_approval(loads(doc)) for *_, doc in rows[:limit]]
    if len(rows) <= limit:
        return items, None
    last = rows[limit - 1]
    return items, (str(last[0]), str(last[1]), str(last[2]))


def recent(db: Database, *, limit: int) -> list[dict[str, Any]]:
    """The latest signals, newest first, each with its rows (one per account)."""
    ids = db.query(
        "SELECT signal_id, MAX(received_at) AS latest FROM proj_signals GROUP BY signal_id"
        f" ORDER BY latest DESC, signal_id LIMIT {int(limit)}"
    )
    if not ids:
        return []
    wanted = [signal_id for signal_id, _ in ids]
    marks = ", ".join("?" for _ in wanted)
    rows = db.query(
        f"SELECT signal_id, doc FROM proj_signals WHERE signal_id IN ({marks})"
        " ORDER BY signal_id, account_id",
        wanted,
    )
    by_signal: dict[str, list[dict[str, Any]]] = {s: [] for s in wanted}
    for signal_id, doc in rows:
        by_signal[signal_id].append(loads(doc))
    return [summary(signal_id, by_signal[signal_id]) for signal_id in wanted]


def summary(signal_id: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """A signal as a whole: what it asked, and each account's row."""
    first = rows[0]
    return {
        "signal_id": signal_id,
        "strategy": first["strategy"],
        "symbol": first["symbol"],
        "side": first["side"],
        "order_type": first["order_type"],
        "received_at": min(r["received_at"] for r in rows),
        "accounts": rows,
    }
