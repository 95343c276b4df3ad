"""What the agent remembers across restarts: open positions, commands seen, trading state."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass

from agents.position_diff import PositionRecord, decode_record, encode_record
from agents.store import get_meta, set_meta


@dataclass(frozen=True)
class CommandRecord:
    command_id: str
    kind: str
    result_subject: str | None
    result_msg_id: str | None
    result_payload: bytes | None

    @property
    def finished(self) -> bool:
        return self.result_payload is not None


@dataclass(frozen=True)
class Unfinished:
    command_id: str
    kind: str
    received_at: float
    """The agent's clock when it was recorded (bounds the deal history searched)."""
    body: bytes | None
    """The command as it came (None in files from before bodies were kept)."""


class AgentState:
    """Rows in the agent's SQLite file; writes join the caller's open transaction."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    # --- positions ---------------------------------------------------------------------

    def positions(self) -> dict[int, PositionRecord]:
        return {
            int(ticket): decode_record(bytes(data))
            for ticket, data in self._conn.execute("SELECT ticket, data FROM positions")
        }

    def save_positions(self, records: Iterable[PositionRecord]) -> None:
        self._conn.executemany(
            "INSERT INTO positions (ticket, data) VALUES (?, ?) "
            "ON CONFLICT(ticket) DO UPDATE SET data = excluded.data",
            [(r.ticket, encode_record(r)) for r in records],
        )

    def forget_positions(self, tickets: Iterable[int]) -> None:
        self._conn.executemany("DELETE FROM positions WHERE ticket = ?", [(t,) for t in tickets])

    # --- commands ----------------------------------------------------------------------

    def command(self, command_id: str) -> CommandRecord | None:
        row = self._conn.execute(
            "SELECT command_id, kind, result_subject, result_msg_id, result_payload "
            "FROM commands WHERE command_id = ?",
            (command_id,),
        ).fetchone()
        if row is None:
            return None
        payload = None if row[4] is None else bytes(row[4])
        return CommandRecord(str(row[0]), str(row[1]), row[2], row[3], payload)

    def command_started(
        self, command_id: str, kind: str, body: bytes | None = None, at: float | None = None
    ) -> None:
        """Record a command before it runs; `body` (its wire bytes) lets a restart resume it,
        `at` is the agent's clock (default: the wall clock)."""
        self._conn.execute(
            "INSERT OR IGNORE INTO commands (command_id, kind, received_at, body) "
            "VALUES (?, ?, ?, ?)",
            (command_id, kind, time.time() if at is None else at, body),
        )

    def unfinished_commands(self) -> list[Unfinished]:
        """Commands started but never finished (a crash mid-way), oldest first."""
        return [
            Unfinished(str(cid), str(kind), float(at), None if body is None else bytes(body))
            for cid, kind, at, body in self._conn.execute(
                "SELECT command_id, kind, received_at, body FROM commands "
                "WHERE result_payload IS NULL ORDER BY received_at"
            )
        ]

    def command_finished(self, command_id: str, subject: str, msg_id: str, payload: bytes) -> None:
        self._conn.execute(
            "UPDATE commands SET result_subject = ?, result_msg_id = ?, result_payload = ? "
            "WHERE command_id = ?",
            (subject, msg_id, payload, command_id),
        )

    # --- trading state -----------------------------------------------------------------

    def trading_state(self) -> str:
        return get_meta(self._conn, "trading_state") or "ACTIVE"

    def set_trading_state(self, state: str) -> None:
        set_meta(self._conn, "trading_state", state)
