"""Pid files per agent, so a restarted supervisor stops agents a crashed one left behind."""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import signal
import sys
import time
from pathlib import Path

log = logging.getLogger(__name__)


def _cmdline(pid: int) -> list[str] | None:
    """The process's argv on Linux; None where /proc is not available or the pid is gone."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class PidFile:
    """`<dir>/agent-<account>.pid` holds the pid of the account's running agent."""

    def __init__(self, directory: Path, account_id: str) -> None:
        self.path = directory / f"agent-{account_id}.pid"
        self.account_id = account_id

    def write(self, pid: int) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(f"{pid}\n", encoding="utf-8")

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)

    def stop_leftover(self, timeout_s: float) -> int | None:
        """Stop an agent of this account left running by an earlier supervisor; its pid or None.

        Only a process whose command line is `... agent run --account <id> ...` is touched
        (Linux); elsewhere the leftover is only reported.
        """
        try:
            pid = int(self.path.read_text(encoding="utf-8").strip())
        except (OSError, ValueError):
            return None
        if pid == os.getpid() or not _alive(pid):
            self.remove()
            return None
        argv = _cmdline(pid)
        if argv is None or sys.platform != "linux":
            log.warning(
                "%s: pid %d from %s may be a leftover agent", self.account_id, pid, self.path
            )
            return None
        if not _is_agent_of(argv, self.account_id):
            self.remove()  # the pid was reused by something else
            return None
        log.warning("%s: stopping leftover agent pid %d", self.account_id, pid)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.remove()
        return pid


def _is_agent_of(argv: list[str], account_id: str) -> bool:
    pairs = itertools.pairwise(argv)
    has_account = any(a == "--account" and b == account_id for a, b in pairs)
    return has_account and any("agent" in part for part in argv)
