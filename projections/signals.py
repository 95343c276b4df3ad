"""The signals view (`proj_signals`): one row per signal and account, its status over time.

A row is made by the engine's `SignalReceived` decision and moves on with the decisions
after it and the agent's answer to its `PlaceOrder` (the facts `OrderExecuted` and
`OrderRejected`, by command id):

    received -> approved | rejected | expired -> sent -> executed | rejected

`approval_status` is the approval's own: `pending` from `ApprovalRequested` until the
`Approved`, `Rejected` or `SignalExpired` decision. An event that does not fit the row's
status changes nothing and is noted in its `notes` (a duplicate fact, a rejection answered
after the execution). The broker's word wins: an `OrderExecuted` after a terminal
rejection makes the row executed, since the position exists.

Rows whose status is final stay in memory for `RETAIN` of log time after their last change
(late facts still find them), then only in the table. An event more than `RETAIN` after a
final row's last change is ignored whether the row is still in memory or not, so a live
projector, a restarted one and a rebuild agree (unless one account's log time lags another's
by more than `RETAIN`). Eviction happens when a signal is received, a point in the log.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import msgspec

from bus.schemas import OrderExecuted, OrderRejected, PositionOpened
from bus.schemas.base import from_msc
from domain.signals import approval_id, signal_command_id
from projections.db import Database

RECEIVED: Final = "received"
APPROVED: Final = "approved"
REJECTED: Final = "rejected"
EXPIRED: Final = "expired"
SENT: Final = "sent"
EXECUTED: Final = "executed"
STATUSES: Final = (RECEIVED, APPROVED, REJECTED, EXPIRED, SENT, EXECUTED)
FINAL: Final = frozenset({REJECTED, EXPIRED, EXECUTED})
APPROVAL_STATUSES: Final = ("pending", "approved", "rejected", "expired")
DECISIONS: Final = frozenset(
    {
        "SignalReceived",
        "SignalSized",
        "ApprovalRequested",
        "Approved",
        "Rejected",
        "SignalExpired",
        "OrderPlaced",
        "OrderApproved",
        "OrderDenied",
    }
)
"""The RISK decisions this view reads (OrderApproved/Denied only for a signal's command)."""
RETAIN: Final = timedelta(hours=24)
MAX_HISTORY: Final = 20
MAX_NOTES: Final = 20

Key = tuple[str, str]
"""(signal_id, account_id)"""


def order_comment(command: str) -> str:
    """The position comment the agent gives a signal's order."""
    return f"mtq-{command[:8]}"


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _num(value: Any) -> float | None:
    return None if value is None or value == "" else float(value)


def new_row(data: dict[str, Any], time: str) -> dict[str, Any]:
    signal_id, account_id = str(data["signal_id"]), str(data["account_id"])
    return {
        "signal_id": signal_id,
        "account_id": account_id,
        "strategy": str(data.get("strategy") or ""),
        "symbol": str(data["symbol"]),
        "side": str(data["side"]),
        "order_type": str(data.get("order_type") or "market"),
        "price": _num(data.get("price")),
        "requested_volume": _num(data.get("volume")),
        "risk_percent": _num(data.get("risk_percent")),
        "sl": _num(data.get("sl")),
        "tp": _num(data.get("tp")),
        "comment": str(data.get("comment") or ""),
        "approval": str(data.get("approval") or "auto"),
        "submitted_by": str(data.get("actor") or ""),
        "status": RECEIVED,
        "volume": _num(data.get("volume")),
        "sizing": None,
        "basis": {},
        "approval_id": approval_id(signal_id, account_id),
        "approval_status": None,
        "command_id": signal_command_id(signal_id, account_id),
        "order_comment": order_comment(signal_command_id(signal_id, account_id)),
        "actor": None,
        "reason": "",
        "risk_check": None,
        "mt5_position_id": None,
        "mt5_order": None,
        "mt5_deal": None,
        "fill_price": None,
        "fill_volume": None,
        "retcode": None,
        "received_at": str(data.get("received_at") or time),
        "expires_at": _text(data.get("expires_at")),
        "decided_at": None,
        "sent_at": None,
        "finished_at": None,
        "updated_at": time,
        "history": [{"status": RECEIVED, "time": time, "event": "SignalReceived"}],
        "notes": [],
    }


def _move(row: dict[str, Any], status: str, time: str, event: str) -> None:
    row["status"] = status
    row["history"] = [*row["history"], {"status": status, "time": time, "event": event}][
        -MAX_HISTORY:
    ]
    if status in (APPROVED, REJECTED, EXPIRED) and row["decided_at"] is None:
        row["decided_at"] = time
    if status in FINAL:
        row["finished_at"] = time


def _note(row: dict[str, Any], time: str, event: str, why: str) -> None:
    row["notes"] = [*row["notes"], {"time": time, "event": event, "note": why}][-MAX_NOTES:]


class SignalBook:
    """Every signal row still in memory, and those changed since `clear`."""

    def __init__(self) -> None:
        self.rows: dict[Key, dict[str, Any]] = {}
        self.by_command: dict[str, Key] = {}
        self.by_comment: dict[tuple[str, str], Key] = {}
        """(account_id, `mtq-<8 hex>`) -> row: a position opened by the signal's order."""
        self.dirty: set[Key] = set()
        self._final: dict[Key, str] = {}
        """Final rows by the time of their last change, oldest first (for eviction)."""
        self._parked: dict[Key, dict[str, Any]] = {}
        """Rows evicted before their last change was saved."""
        self._anchor = datetime.min.replace(tzinfo=UTC)
        """The latest time a signal was received at (eviction counts from it)."""

    # --- lookups --------------------------------------------------------------------

    def for_command(self, command: str) -> dict[str, Any] | None:
        key = self.by_command.get(command)
        return None if key is None else self.rows.get(key)

    # --- decisions ------------------------------------------------------------------

    def decision(self, kind: str, data: dict[str, Any], time: str) -> dict[str, Any] | None:
        """Apply one RISK decision; the row it changed (None: not a signal's)."""
        if kind == "SignalReceived":
            return self._received(data, time)
        handler = _DECISION_HANDLERS.get(kind)
        if handler is None:
            return None
        row = self.decision_row(kind, data)
        if row is None or _too_late(row, time):
            return None
        handler(row, data, time)
        self._index(row)
        self._touched(row, time)
        return row

    def decision_row(self, kind: str, data: dict[str, Any]) -> dict[str, Any] | None:
        """The row a decision concerns (None: not a known signal's)."""
        if kind == "SignalReceived":
            return self.rows.get((str(data["signal_id"]), str(data["account_id"])))
        if kind in ("OrderApproved", "OrderDenied"):
            request = data.get("request") or {}
            return self.for_command(str(request.get("client_order_id") or ""))
        signal_id = data.get("signal_id")
        if signal_id is None:
            return None
        return self.rows.get((str(signal_id), str(data["account_id"])))

    def _received(self, data: dict[str, Any], time: str) -> dict[str, Any] | None:
        key = (str(data["signal_id"]), str(data["account_id"]))
        found = self.rows.get(key)
        if found is not None:
            if _too_late(found, time):
                return None
            _note(found, time, "SignalReceived", "duplicate: already received")
            self._touched(found, time)
            return found
        self._evict(time)
        row = new_row(data, time)
        self.rows[key] = row
        self._index(row)
        self.dirty.add(key)
        return row

    def _index(self, row: dict[str, Any]) -> None:
        key = (row["signal_id"], row["account_id"])
        self.by_command[row["command_id"]] = key
        self.by_comment[(row["account_id"], row["order_comment"])] = key

    def _unindex(self, row: dict[str, Any]) -> None:
        self.by_command.pop(row["command_id"], None)
        self.by_comment.pop((row["account_id"], row["order_comment"]), None)

    # --- facts ----------------------------------------------------------------------

    def position_opened(self, fact: PositionOpened) -> dict[str, Any] | None:
        """A position with a signal's comment: its identifier, when the answer had none (a
        pending order fills later); the row it changed, if any."""
        key = self.by_comment.get((fact.account_id, fact.comment.strip()))
        row = None if key is None else self.rows.get(key)
        if (
            row is None
            or row["mt5_position_id"] is not None
            or row["status"]
            not in (
                SENT,
                EXECUTED,
            )
        ):
            return None
        time = from_msc(fact.time_msc).isoformat()
        if _too_late(row, time):
            return None
        row["mt5_position_id"] = fact.identifier
        self._touched(row, time)
        return row

    def fact(self, fact: OrderExecuted | OrderRejected) -> dict[str, Any] | None:
        """Apply the agent's answer to a command; the row it changed (None: not a signal's)."""
        row = self.for_command(fact.command_id)
        time = fact.time.isoformat()
        if row is None or _too_late(row, time):
            return None
        match fact:
            case OrderExecuted():
                _executed(row, fact, time)
            case OrderRejected():
                _rejected_by_terminal(row, fact, time)
        self._touched(row, time)
        return row

    # --- bookkeeping ----------------------------------------------------------------

    def _touched(self, row: dict[str, Any], time: str) -> None:
        key = (row["signal_id"], row["account_id"])
        row["updated_at"] = max(row["updated_at"], time)
        self.dirty.add(key)
        self._final.pop(key, None)
        if row["status"] in FINAL:
            self._final[key] = row["updated_at"]

    def _evict(self, time: str) -> None:
        self._anchor = max(self._anchor, _at(time))
        cutoff = self._anchor - RETAIN
        while self._final:
            key, changed = next(iter(self._final.items()))
            if _at(changed) >= cutoff:
                return
            del self._final[key]
            row = self.rows.pop(key)
            self._unindex(row)
            if key in self.dirty:
                self._parked[key] = row

    def save(self, cur: Any) -> int:
        rows = [
            (
                signal_id,
                account_id,
                row["status"],
                row["approval_status"],
                row["command_id"],
                row["received_at"],
                row["updated_at"],
                _dumps(row),
            )
            for (signal_id, account_id) in sorted(self.dirty)
            for row in (self._saved_row((signal_id, account_id)),)
        ]
        cur.executemany(_UPSERT, rows)
        return len(rows)

    def _saved_row(self, key: Key) -> dict[str, Any]:
        found = self.rows.get(key)
        return self._parked[key] if found is None else found

    def clear(self) -> None:
        self.dirty.clear()
        self._parked.clear()

    def load(self, db: Database) -> None:
        """Live rows, and final ones changed within `RETAIN` of the newest change."""
        newest = db.query("SELECT MAX(updated_at) FROM proj_signals")[0][0]
        if newest is None:
            return
        cutoff = (datetime.fromisoformat(newest) - RETAIN).isoformat()
        found = db.query(
            "SELECT doc FROM proj_signals WHERE status NOT IN (?, ?, ?) OR updated_at >= ?"
            " ORDER BY updated_at, signal_id, account_id",
            [*sorted(FINAL), cutoff],
        )
        for (doc,) in found:
            row = _loads(doc)
            key = (row["signal_id"], row["account_id"])
            self.rows[key] = row
            self._index(row)
            if row["status"] in FINAL:
                self._final[key] = row["updated_at"]


# --- how each event moves a row -------------------------------------------------------


def _too_late(row: dict[str, Any], time: str) -> bool:
    """An event more than RETAIN after a final row's last change (ignored)."""
    if row["status"] not in FINAL:
        return False
    return _at(time) - _at(row["updated_at"]) > RETAIN


def _at(text: str) -> datetime:
    at = datetime.fromisoformat(text)
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _sized(row: dict[str, Any], data: dict[str, Any], time: str) -> None:
    row["volume"] = _num(data.get("volume"))
    row["sizing"] = _text(data.get("sizing"))
    row["basis"] = {str(k): str(v) for k, v in (data.get("basis") or {}).items()}


def _requested(row: dict[str, Any], data: dict[str, Any], time: str) -> None:
    row["approval_id"] = str(data.get("approval_id") or row["approval_id"])
    if row["approval_status"] is None:
        row["approval_status"] = "pending"


def _approved(row: dict[str, Any], data: dict[str, Any], time: str) -> None:
    if row["status"] != RECEIVED:
        _note(row, time, "Approved", f"ignored: signal is {row['status']}")
        return
    row["approval_status"] = "approved"
    row["actor"], row["reason"] = _text(data.get("actor")), str(data.get("reason") or "")
    _move(row, APPROVED, time, "Approved")


def _rejected(row: dict[str, Any], data: dict[str, Any], time: str) -> None:
    if row["status"] not in (RECEIVED, APPROVED):
        _note(row, time, "Rejected", f"ignored: signal is {row['status']}")
        return
    if row["approval_status"] in (None, "pending"):
        row["approval_status"] = "rejected"
    row["actor"], row["reason"] = _text(data.get("actor")), str(data.get("reason") or "")
    _move(row, REJECTED, time, "Rejected")


def _expired(row: dict[str, Any], data: dict[str, Any], time: str) -> None:
    if row["status"] not in (RECEIVED, APPROVED):
        _note(row, time, "SignalExpired", f"ignored: signal is {row['status']}")
        return
    if row["approval_status"] in (None, "pending"):
        row["approval_status"] = "expired"
    row["actor"], row["reason"] = "risk", str(data.get("reason") or "expired")
    _move(row, EXPIRED, time, "SignalExpired")


def _risk_approved(row: dict[str, Any], data: dict[str, Any], time: str) -> None:
    row["risk_check"] = {"decision": "approved", "time": time, "reasons": []}


def _risk_denied(row: dict[str, Any], data: dict[str, Any], time: str) -> None:
    """The pre-trade check's denial; the `Rejected` by risk after it moves the row."""
    reasons = [str(r) for r in data.get("reasons") or ()]
    row["risk_check"] = {"decision": "denied", "time": time, "reasons": reasons}


def _placed(row: dict[str, Any], data: dict[str, Any], time: str) -> None:
    if row["status"] not in (RECEIVED, APPROVED):
        _note(row, time, "OrderPlaced", f"ignored: signal is {row['status']}")
        return
    command = _text(data.get("command_id"))
    if command and command != row["command_id"]:
        row["command_id"], row["order_comment"] = command, order_comment(command)  # re-indexed
    if data.get("volume") is not None:
        row["volume"] = _num(data["volume"])
    if row["approval_status"] is None:
        row["approval_status"] = "approved"  # auto approval
    row["sent_at"] = time
    _move(row, SENT, time, "OrderPlaced")


def _executed(row: dict[str, Any], fact: OrderExecuted, time: str) -> None:
    if row["status"] == EXECUTED:
        _note(row, time, "OrderExecuted", f"duplicate: already executed (deal {fact.deal})")
        return
    if row["status"] == REJECTED:
        _note(row, time, "OrderExecuted", f"executed after a rejection: {row['reason']}")
    row.update(
        mt5_position_id=fact.position,
        mt5_order=fact.ticket,
        mt5_deal=fact.deal,
        fill_price=fact.price,
        fill_volume=fact.volume,
        retcode=fact.retcode,
        actor="terminal",
        reason=fact.comment,
    )
    _move(row, EXECUTED, time, "OrderExecuted")


def _rejected_by_terminal(row: dict[str, Any], fact: OrderRejected, time: str) -> None:
    why = f"{fact.retcode} {fact.comment}".strip() if fact.retcode is not None else fact.comment
    if row["status"] != SENT:
        _note(row, time, "OrderRejected", f"ignored: signal is {row['status']} ({why})")
        return
    row.update(retcode=fact.retcode, actor="terminal", reason=why)
    _move(row, REJECTED, time, "OrderRejected")


_DECISION_HANDLERS: Final[dict[str, Callable[[dict[str, Any], dict[str, Any], str], None]]] = {
    "SignalSized": _sized,
    "ApprovalRequested": _requested,
    "Approved": _approved,
    "Rejected": _rejected,
    "SignalExpired": _expired,
    "OrderApproved": _risk_approved,
    "OrderDenied": _risk_denied,
    "OrderPlaced": _placed,
}


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder()


def _dumps(doc: Any) -> str:
    return _encoder.encode(doc).decode()


def _loads(text: str | bytes) -> Any:
    return _decoder.decode(text)


_UPSERT: Final = (
    "INSERT INTO proj_signals (signal_id, account_id, status, approval_status, command_id,"
    " received_at, updated_at, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (signal_id, account_id) DO UPDATE SET status = excluded.status,"
    " approval_status = excluded.approval_status, command_id = excluded.command_id,"
    " updated_at = excluded.updated_at, doc = excluded.doc"
)
