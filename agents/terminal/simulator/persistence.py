"""A simulated world that outlives its process, as a real broker's account does.

Same settings + same origin + the same world-changing calls at the same simulated steps give
the same world, so a restarted simulator rebuilds it and catches up with the clock: positions
that hit their SL/TP while the agent was down are closed at the "broker" when it returns.

Two files per account, next to the agent's data:
- `<stem>.jsonl`: a header (origin, seed, settings digest), then one line per accepted
  world-changing call (`order_send` that traded, `set_trading_state`) with its step.
- `<stem>.snapshot`: a pickled world every `snapshot_every_s` of simulated time, with how many
  journal lines it already contains, so catch-up costs the downtime, not the world's age.
  It is only ever read back by this code from the agent's own data directory.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from agents.terminal.simulator.settings import SimulatorSettings

log = logging.getLogger(__name__)

FORMAT_VERSION = 2
SNAPSHOT_EVERY_S = 60.0


def settings_digest(settings: SimulatorSettings) -> str:
    """Changes when anything that shapes the world changes (then a new world starts)."""
    text = f"v{FORMAT_VERSION}|{settings!r}"
    return hashlib.blake2s(text.encode(), digest_size=8).hexdigest()


@dataclass(frozen=True)
class JournalEntry:
    step: int
    kind: str
    """'order' (data: the order_send request), 'trading_state' (data: {'state': ...}) or
    'rollover' (data: {'reopen': ...})."""
    data: dict[str, Any]


@dataclass
class Snapshot:
    digest: str
    step: int
    applied: int
    """Journal entries already reflected in `world`."""
    world: Any


@dataclass
class WorldJournal:
    """The append-only journal file; `entries` as read at open plus what was recorded since."""

    path: Path
    origin_msc: int
    digest: str
    entries: list[JournalEntry] = field(default_factory=list)
    _fh: IO[str] | None = None

    @classmethod
    def open(cls, path: Path, settings: SimulatorSettings, now_msc: int) -> WorldJournal:
        """Read the journal at `path`, or start a new world at `now_msc` if there is none or
        it was made with other settings."""
        digest = settings_digest(settings)
        path.parent.mkdir(parents=True, exist_ok=True)
        found = _read(path)
        if found is not None and found[0].get("digest") == digest:
            header, entries, clean = found
            journal = cls(path, int(header["origin_msc"]), digest, entries)
            if not clean:  # a torn last line (killed mid-write): rewrite without it
                journal._rewrite(header)
            journal._fh = path.open("a", encoding="utf-8")
            return journal
        if found is not None:
            log.warning("simulator settings changed: starting a new simulated world (%s)", path)
            with contextlib.suppress(FileNotFoundError):
                snapshot_path(path).unlink()
        header = {
            "v": FORMAT_VERSION,
            "origin_msc": now_msc,
            "seed": settings.seed,
            "digest": digest,
        }
        journal = cls(path, now_msc, digest)
        journal._rewrite(header)
        journal._fh = path.open("a", encoding="utf-8")
        return journal

    @classmethod
    def read(cls, path: Path) -> WorldJournal:
        """The journal at `path`, read-only (to rebuild its world elsewhere, e.g. in tests)."""
        found = _read(path)
        if found is None:
            raise FileNotFoundError(f"no simulator journal at {path}")
        header, entries, _ = found
        return cls(path, int(header["origin_msc"]), str(header.get("digest", "")), entries)

    def record(self, step: int, kind: str, data: dict[str, Any]) -> None:
        """Append one world-changing call; on disk before the caller sees its result."""
        entry = JournalEntry(step, kind, data)
        self.entries.append(entry)
        if self._fh is not None:
            self._fh.write(json.dumps({"step": step, kind: data}, separators=(",", ":")) + "\n")
            self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def _rewrite(self, header: dict[str, Any]) -> None:
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            fh.write(json.dumps(header) + "\n")
            for e in self.entries:
                fh.write(json.dumps({"step": e.step, e.kind: e.data}, separators=(",", ":")))
                fh.write("\n")
        os.replace(tmp, self.path)


def _read(path: Path) -> tuple[dict[str, Any], list[JournalEntry], bool] | None:
    """(header, entries, every line intact) or None when there is no readable header."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return None
    if not lines:
        return None
    try:
        header = json.loads(lines[0])
    except json.JSONDecodeError:
        return None
    entries: list[JournalEntry] = []
    clean = True
    for line in lines[1:]:
        try:
            raw = json.loads(line)
            kind = next(k for k in raw if k != "step")
            entries.append(JournalEntry(int(raw["step"]), kind, dict(raw[kind])))
        except (json.JSONDecodeError, StopIteration, KeyError, TypeError, ValueError):
            clean = False
            break
    return header, entries, clean


def snapshot_path(journal_path: Path) -> Path:
    return journal_path.with_suffix(".snapshot")


def write_snapshot(journal: WorldJournal, world: Any, applied: int) -> None:
    """Atomically replace the snapshot (tmp file + rename)."""
    path = snapshot_path(journal.path)
    tmp = path.with_suffix(".snapshot.tmp")
    data = pickle.dumps(
        Snapshot(journal.digest, world.step_count, applied, world), pickle.HIGHEST_PROTOCOL
    )
    tmp.write_bytes(data)
    os.replace(tmp, path)


def read_snapshot(journal: WorldJournal) -> Snapshot | None:
    """The latest snapshot of this journal's world, or None (missing, stale or unreadable)."""
    path = snapshot_path(journal.path)
    try:
        snap = pickle.loads(path.read_bytes())  # our own file in the agent's data dir
    except FileNotFoundError:
        return None
    except Exception as exc:  # noqa: BLE001 - an unreadable snapshot only costs a longer replay
        log.warning("ignoring simulator snapshot %s: %r", path, exc)
        return None
    if not isinstance(snap, Snapshot) or snap.digest != journal.digest:
        return None
    if snap.applied > len(journal.entries):
        return None
    return snap
