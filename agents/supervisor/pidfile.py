"""Pid files per agent, so a restarted supervisor stops agents a crashed one left behind.

A pid file names the agent, the data dir owner that started it and the data dir. Only a
process that is provably ours is ever stopped: its pid file was written by an owner of
this data dir that is gone (or is us), and its command line is `... agent run --account
<id> ... --data <this data dir>`.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bus.datadir import data_arg, pid_alive, process_cmdline, process_cwd, write_atomic

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PidRecord:
    pid: int
    owner: int
    data_dir: Path


class PidFile:
    """`<dir>/agent-<account>.pid` holds the pid of the account's running agent."""

    def __init__(self, directory: Path, account_id: str, data_dir: Path | None = None) -> None:
        self.path = directory / f"agent-{account_id}.pid"
        self.account_id = account_id
        self.data_dir = (data_dir if data_dir is not None else directory.parent).resolve()

    def write(self, pid: int) -> None:
        record = {"pid": pid, "owner": os.getpid(), "data": str(self.data_dir)}
        write_atomic(self.path, json.dumps(record) + "\n")

    def read(self) -> PidRecord | None:
        try:
            info = json.loads(self.path.read_text(encoding="utf-8"))
            return PidRecord(int(info["pid"]), int(info["owner"]), Path(info["data"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)

    def stop_leftover(self, timeout_s: float) -> int | None:
        """Stop an agent of this account left running by an earlier supervisor; its pid or None.

        Anything not provably ours is left alone (and reported if it might be an agent);
        a stale file (pid gone, reused, or unreadable) is removed.
        """
        if not self.path.exists():
            return None
        record = self.read()
        if record is None:
            log.warning("%s: ignoring unreadable pid file %s", self.account_id, self.path)
            self.remove()
            return None
        if record.pid == os.getpid() or not pid_alive(record.pid):
            self.remove()
            return None
        reason = self._not_ours(record)
        if reason is not None:
            log.warning(
                "%s: pid %d named by %s left alone: %s",
                self.account_id,
                record.pid,
                self.path,
                reason,
            )
            if reason.startswith("not an agent"):
                self.remove()  # the pid was reused by something else
            return None
        log.warning("%s: stopping leftover agent pid %d", self.account_id, record.pid)
        _terminate(record.pid, timeout_s)
        self.remove()
        return record.pid

    def _not_ours(self, record: PidRecord) -> str | None:
        """Why `record`'s process must not be touched, or None if it is provably ours."""
        if record.data_dir.resolve() != self.data_dir:
            return f"written for data dir {record.data_dir}"
        if record.owner != os.getpid() and pid_alive(record.owner):
            return f"its owner pid {record.owner} is still running"
        argv = process_cmdline(record.pid)
        if argv is None or sys.platform != "linux":
            return "its command line cannot be read"
        return self._command_not_ours(record.pid, argv)

    def _command_not_ours(self, pid: int, argv: list[str]) -> str | None:
        if not _is_agent_of(argv, self.account_id):
            return "not an agent of this account"
        named = data_arg(argv)
        if named is None:
            return "its command line names no --data"
        base = process_cwd(pid) or Path.cwd()
        if (base / named).resolve() != self.data_dir:
            return f"it runs on data dir {named}"
        return None


def _terminate(pid: int, timeout_s: float) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if pid_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _is_agent_of(argv: list[str], account_id: str) -> bool:
    pairs = list(itertools.pairwise(argv))
    has_account = any(a in ("--account", "-a") and b == account_id for a, b in pairs)
    has_run = any(a == "agent" and b == "run" for a, b in pairs)
    return has_account and has_run
