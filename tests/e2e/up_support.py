"""Run `mtq up` as a real process on a small config and read what it stored."""

from __future__ import annotations

import json
import re
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg

from bus import subjects
from tests.e2e.cli import spawn_mtq
from tests.support import eventually_sync

ACCOUNTS = ("up-a", "up-b")

CONFIG = """
supervisor: {restart_initial_delay_s: 0.5, heartbeat_timeout_s: 10, health_check_interval_s: 0.2}
defaults:
  terminal:
    kind: simulator
    simulator:
      tick_interval_ms: 100
      strategy: {kind: random, open_probability: 0.2, close_probability: 0.1, max_positions: 3}
  agent: {poll_interval_ms: 50, heartbeat_interval_s: 0.5, account_snapshot_interval_s: 0.2}
  symbols: [{name: EURUSD}]
accounts:
  - {id: up-a, terminal: {simulator: {seed: 1}}}
  - {id: up-b, terminal: {simulator: {seed: 2}}}
"""


def write_config(directory: Path) -> Path:
    path = directory / "mtq.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


@dataclass
class Up:
    """One `mtq up` process and where it writes."""

    proc: subprocess.Popen[bytes]
    log: Path
    data: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def url(self, timeout: float = 60) -> str:
        def found() -> str:
            match = re.search(r"NATS: (nats://127\.0\.0\.1:\d+)", self.text())
            assert match, self.text()
            return match.group(1)

        return eventually_sync(found, timeout=timeout, message="mtq up banner")

    def server_pid(self) -> int:
        pid: int = json.loads((self.data / "nats" / "nats-server.pid").read_text())["pid"]
        return pid

    def stop(self, timeout: float = 40) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise


def start_up(tmp_path: Path, config: Path, data: Path, name: str = "up") -> Up:
    log = tmp_path / f"{name}.log"
    proc = spawn_mtq(
        "up", "--config", str(config), "--data", str(data), "--nats-port", "0", log=log
    )
    return Up(proc, log, data)


def admin_creds(data: Path) -> str:
    """The admin identity's credentials that a secured `mtq up` wrote into `data`."""
    return str(data / "auth" / "creds" / "admin.creds")


async def connect_admin(url: str, data: Path) -> Client:
    """A client of the `mtq up` on `data`, as its admin identity."""
    return await nats.connect(url, user_credentials=admin_creds(data))


async def read_all(nc: Client, subject: str) -> list[Msg]:
    """Every message stored on `subject` when the read began, in stream order."""
    sub = await nc.jetstream().subscribe(subject, ordered_consumer=True)
    found: list[Msg] = []
    try:
        while True:
            try:
                msg = await sub.next_msg(timeout=2.0)
            except TimeoutError:
                return found  # nothing (more) on the subject
            found.append(msg)
            if msg.metadata.num_pending == 0:
                return found
    finally:
        await sub.unsubscribe()


async def facts_state(nc: Client) -> tuple[int, int]:
    """(last sequence, message count) of the MT5 stream."""
    state = (await nc.jetstream().stream_info(subjects.STREAM_FACTS)).state
    return state.last_seq, state.messages


def agent_pids(data: Path) -> dict[str, int]:
    """Account → pid of the live `agent run` processes on `data`."""
    found: dict[str, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        words = [w.decode(errors="replace") for w in argv]
        if state == "Z" or "agent" not in words or str(data) not in words:
            continue
        account = words[words.index("--account") + 1]
        assert account not in found, f"two agents for {account}: {found[account]}, {entry.name}"
        found[account] = int(entry.name)
    return found
