"""One owner per data dir: an exclusive OS lock, files written atomically, stale files told apart.

The owner (`mtq up`, `mtq nats serve`, `mtq supervisor run`) holds `flock` on `<data>/.lock`
for its whole life; the kernel releases it on any death, so a SIGKILLed owner never leaves
a dir locked. The lock file also says who holds it (pid, since when, what), for the line a
second start prints. Children that touch the store (the nats-server) inherit the lock's
file descriptor, so the dir stays locked until they are gone too.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import json
import os
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Final

LOCK_FILE_NAME: Final = ".lock"
# A dead owner's nats-server gets SIGTERM when its parent dies and needs a moment to exit.
DEAD_HOLDER_WAIT_S: Final = 15.0


class DataDirLocked(RuntimeError):
    """Another process owns the data dir; the message is the one line to print."""

    def __init__(self, message: str, holder: Holder | None) -> None:
        super().__init__(message)
        self.holder = holder


@dataclass(frozen=True)
class Holder:
    """What the lock file says about its owner."""

    pid: int
    since: str
    command: str

    def alive(self) -> bool:
        return pid_alive(self.pid)


def pid_alive(pid: int) -> bool:
    """True if a process with this pid exists (zombies count as gone)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


def process_cmdline(pid: int) -> list[str] | None:
    """The process's argv on Linux; None where /proc is not available or the pid is gone."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def process_cwd(pid: int) -> Path | None:
    """The process's working directory on Linux, if readable."""
    try:
        return Path(os.readlink(f"/proc/{pid}/cwd"))
    except OSError:
        return None


def write_atomic(path: Path, text: str, *, private: bool = False) -> None:
    """Write `text` to `path` so that readers see the old or the new file, never a part.

    `private`: the file is 0600 and a directory created for it 0700 (for secrets).
    """
    path.parent.mkdir(mode=0o700 if private else 0o777, parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        if private:
            os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def read_holder(data_dir: Path) -> Holder | None:
    """Who the lock file of `data_dir` names, or None if nobody ever held it (or unreadable)."""
    try:
        info: Any = json.loads((data_dir / LOCK_FILE_NAME).read_text(encoding="utf-8"))
        return Holder(pid=int(info["pid"]), since=str(info["since"]), command=str(info["command"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def owner_running(data_dir: Path) -> bool:
    """True if the process the lock file names is alive (files it wrote can be trusted)."""
    holder = read_holder(data_dir)
    return holder is not None and holder.alive()


class DataDirLock:
    """An exclusive lock on a data dir, held until `release()` or the process's death."""

    def __init__(self, data_dir: Path, command: str = "mtq") -> None:
        self.data_dir = data_dir
        self.path = data_dir / LOCK_FILE_NAME
        self.command = command
        self._fd: int | None = None

    @property
    def fd(self) -> int:
        """The lock's file descriptor, for children that must keep the dir locked."""
        if self._fd is None:
            raise RuntimeError(f"{self.path} is not locked")
        return self._fd

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, *, dead_holder_wait_s: float = DEAD_HOLDER_WAIT_S) -> DataDirLock:
        """Lock the dir or raise `DataDirLocked` at once if a live process holds it.

        If the holder is dead (its children still hold the lock while they exit) wait up to
        `dead_holder_wait_s` for them.
        """
        self.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + dead_holder_wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = read_holder(self.data_dir)
                if (holder is not None and holder.alive()) or time.monotonic() >= deadline:
                    os.close(fd)
                    raise DataDirLocked(self._refusal(holder), holder) from None
                time.sleep(0.1)
        self._fd = fd
        self._write_holder()
        return self

    def _write_holder(self) -> None:
        fd = self.fd
        info = {
            "pid": os.getpid(),
            "since": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": self.command,
        }
        data = (json.dumps(info) + "\n").encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
        os.fsync(fd)

    def _refusal(self, holder: Holder | None) -> str:
        where = str(self.data_dir)
        if holder is None:
            who = "another process (the lock file names none)"
        elif holder.alive():
            who = f"pid {holder.pid} ({holder.command}, since {holder.since})"
        else:
            who = (
                f"the children of pid {holder.pid} ({holder.command}, since {holder.since}, "
                "now gone), still running"
            )
        return (
            f"data dir {where} is in use by {who}; stop it first, or pass --data DIR to use another"
        )

    def release(self) -> None:
        """Close the lock; it is free once children holding it are gone too.

        No `LOCK_UN`: it would unlock the children's inherited descriptor as well. The file
        stays: removing it would race with the next owner.
        """
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def __enter__(self) -> DataDirLock:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


OWNER_COMMANDS: Final = (("up",), ("nats", "serve"), ("supervisor", "run"))


def data_dirs_in_use(proc: Path = Path("/proc")) -> list[tuple[Path, Holder]]:
    """The data dirs that a live `mtq up`, `mtq nats serve` or `mtq supervisor run` owns.

    Found from each process's command line (its `--data`, else `data` in its working dir)
    and confirmed by the dir's lock file naming that very process.
    """
    found: dict[Path, Holder] = {}
    for entry in proc.glob("[0-9]*"):
        pid = int(entry.name)
        argv = process_cmdline(pid)
        if not argv or not _is_owner_command(argv):
            continue
        cwd = process_cwd(pid)
        data = Path(data_arg(argv) or "data")
        path = data if data.is_absolute() or cwd is None else cwd / data
        holder = read_holder(path)
        if holder is not None and holder.pid == pid and holder.alive():
            found[path.resolve()] = holder
    return sorted(found.items())


def _is_owner_command(argv: list[str]) -> bool:
    """`mtq up ...`, `python .../mtq nats serve ...`, `python -m mtq supervisor run ...`."""
    for i, word in enumerate(argv[:3]):
        if Path(word).name == "mtq":
            words = [w for w in argv[i + 1 :] if not w.startswith("-")]
            return any(tuple(words[: len(cmd)]) == cmd for cmd in OWNER_COMMANDS)
    return False


def data_arg(argv: list[str]) -> str | None:
    """The `--data DIR` (or `--data=DIR`) a command line names, if any."""
    for a, b in itertools.pairwise(argv):
        if a == "--data":
            return b
    for part in argv:
        if part.startswith("--data="):
            return part.removeprefix("--data=")
    return None
