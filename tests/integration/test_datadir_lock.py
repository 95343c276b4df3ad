"""The data-dir lock and leftover-agent rules, with real processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from agents.supervisor.pidfile import PidFile
from bus.datadir import DataDirLock, DataDirLocked, pid_alive, read_holder, write_atomic
from tests.support import eventually_sync

HOLD = """
import sys, time
from pathlib import Path
from bus.datadir import DataDirLock
lock = DataDirLock(Path(sys.argv[1]), "test holder").acquire()
if len(sys.argv) > 2:  # hand the lock to a child that outlives us
    import subprocess
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], pass_fds=(lock.fd,))
    print("child", flush=True)
    time.sleep(60)
print("locked", flush=True)
time.sleep(60)
"""


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == "locked\n"
    yield proc
    proc.kill()
    proc.wait()


def _dead_pid() -> int:
    gone = subprocess.Popen(["true"])
    gone.wait()
    return gone.pid


def test_lock_when_held_by_a_live_process_then_refused_at_once_naming_it(
    tmp_path: Path, holder: subprocess.Popen[str]
) -> None:
    with pytest.raises(DataDirLocked) as info:
        DataDirLock(tmp_path).acquire()
    message = str(info.value)
    assert f"data dir {tmp_path} is in use by pid {holder.pid} (test holder, since 20" in message
    assert "--data" in message
    assert "\n" not in message


def test_lock_when_holder_sigkilled_then_next_acquire_succeeds(
    tmp_path: Path, holder: subprocess.Popen[str]
) -> None:
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    with DataDirLock(tmp_path, "next") as lock:
        assert lock.held
        holder_info = read_holder(tmp_path)
        assert holder_info is not None
        assert holder_info.pid == os.getpid()
        assert holder_info.command == "next"


def test_lock_when_a_child_inherited_it_then_dir_stays_locked_until_the_child_is_gone(
    tmp_path: Path,
) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path), "child"], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == "child\n"
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
    (child,) = (int(c) for c in children)
    proc.kill()
    proc.wait()
    try:
        with pytest.raises(DataDirLocked, match=f"children of pid {proc.pid}.*now gone"):
            DataDirLock(tmp_path).acquire(dead_holder_wait_s=0.3)
    finally:
        os.kill(child, signal.SIGKILL)
    eventually_sync(lambda: not pid_alive(child), message="child gone")
    with DataDirLock(tmp_path) as lock:
        assert lock.held


def test_write_atomic_when_replacing_then_new_content_and_no_temp_files(tmp_path: Path) -> None:
    target = tmp_path / "nats.url"
    write_atomic(target, "nats://a:1\n")
    write_atomic(target, "nats://b:2\n")
    assert target.read_text() == "nats://b:2\n"
    assert [p.name for p in tmp_path.iterdir()] == ["nats.url"]


def _fake_agent(account: str, data: Path) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-c", "import time; time.sleep(60)"]
    return subprocess.Popen([*argv, "agent", "run", "--account", account, "--data", str(data)])


def _pid_file(data: Path, account: str, pid: int, owner: int, named: Path) -> PidFile:
    pidfile = PidFile(data / "run", account)
    (data / "run").mkdir(parents=True, exist_ok=True)
    pidfile.path.write_text(json.dumps({"pid": pid, "owner": owner, "data": str(named)}))
    return pidfile


def test_leftover_when_owner_gone_and_command_names_this_dir_then_stopped(tmp_path: Path) -> None:
    agent = _fake_agent("acc-1", tmp_path)
    try:
        pidfile = _pid_file(tmp_path, "acc-1", agent.pid, _dead_pid(), tmp_path)
        assert pidfile.stop_leftover(timeout_s=5) == agent.pid
        assert agent.wait(timeout=5) == -signal.SIGTERM
        assert not pidfile.path.exists()
    finally:
        agent.kill()
        agent.wait()


@pytest.mark.parametrize("case", ["other data dir", "owner alive", "other account", "old format"])
def test_leftover_when_not_provably_ours_then_left_running(tmp_path: Path, case: str) -> None:
    other = tmp_path / "other"
    agent = _fake_agent("acc-1", other if case == "other data dir" else tmp_path)
    try:
        owner = os.getppid() if case == "owner alive" else _dead_pid()
        account = "acc-2" if case == "other account" else "acc-1"
        pidfile = _pid_file(tmp_path, account, agent.pid, owner, tmp_path)
        if case == "old format":
            pidfile.path.write_text(f"{agent.pid}\n")
        assert pidfile.stop_leftover(timeout_s=1) is None
        assert agent.poll() is None, "a process not provably ours was stopped"
    finally:
        agent.kill()
        agent.wait()
