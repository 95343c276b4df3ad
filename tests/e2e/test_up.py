from __future__ import annotations

import re
import signal
import subprocess
from pathlib import Path

import nats
import pytest
from nats.aio.msg import Msg

from bus import codec, subjects
from bus.schemas import AccountSnapshot, TickReceived
from tests.e2e.cli import mtq, pids_mentioning, spawn_mtq
from tests.e2e.up_support import admin_creds
from tests.support import eventually, eventually_sync

pytestmark = [pytest.mark.e2e, pytest.mark.nats, pytest.mark.slow]

DEMO = Path(__file__).resolve().parents[2] / "config" / "examples" / "demo.yaml"
DEMO_ACCOUNTS = {"ftmo-001", "trail-002", "strict-003"}


def _argv(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]


def _url_from(log: Path) -> str:
    match = re.search(r"NATS: (nats://127\.0\.0\.1:\d+)", log.read_text())
    assert match, log.read_text()
    return match.group(1)


async def test_up_when_started_then_facts_flow_for_every_demo_account_and_sigterm_cleans_up(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    log = tmp_path / "up.log"
    proc = spawn_mtq("up", "--config", str(DEMO), "--data", str(data), "--nats-port", "0", log=log)
    try:
        url = eventually_sync(lambda: _url_from(log), timeout=60, message="mtq up banner")
        text = log.read_text()
        assert "nats --server" in text
        assert ".venv/bin/mtq status" in text  # runnable as shown after `make run`
        assert (data / "nats.url").read_text().strip() == url

        nc = await nats.connect(url, user_credentials=admin_creds(data))
        try:
            seen_ticks: set[str] = set()
            seen_snapshots: set[str] = set()

            async def on_msg(msg: Msg) -> None:
                fact = codec.decode_fact(msg.subject, msg.data)
                if isinstance(fact, TickReceived):
                    seen_ticks.add(fact.account_id)
                elif isinstance(fact, AccountSnapshot):
                    seen_snapshots.add(fact.account_id)

            sub = await nc.subscribe("mt5.>", cb=on_msg)
            await eventually(
                lambda: seen_ticks >= DEMO_ACCOUNTS and seen_snapshots >= DEMO_ACCOUNTS,
                timeout=60,
                message="ticks and account snapshots from every demo account",
            )
            await sub.unsubscribe()
            js = nc.jetstream()
            for stream in (
                subjects.STREAM_TICKS,
                subjects.STREAM_FACTS,
                subjects.STREAM_RISK,
                subjects.STREAM_CMD,
                subjects.STREAM_DLQ,
            ):
                assert (await js.stream_info(stream)).config.name == stream
        finally:
            await nc.close()

        children = [_argv(pid) for pid in pids_mentioning(str(data)) if pid != proc.pid]
        servers = [a for a in children if Path(a[0]).name == "nats-server"]
        agents = sorted(a[a.index("--account") + 1] for a in children if "--account" in a)
        assert len(servers) == 1, children
        assert agents == sorted(DEMO_ACCOUNTS), children  # one `agent run` per account
        assert all(a[a.index("agent") + 1] == "run" for a in children if "--account" in a)
        services = sorted(
            a[a.index("mtq") + 1]
            for a in children
            if a[-1:] != [] and "run" in a and "--account" not in a
        )
        assert services == ["api", "engine", "projector"], children  # supervised children
        assert len(children) == 1 + len(DEMO_ACCOUNTS) + 3, children
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert code == 0, log.read_text()
    assert "mtq stopped" in log.read_text()
    assert not (data / "nats.url").exists()
    eventually_sync(lambda: not pids_mentioning(str(data)), timeout=10, message="no leftovers")


def test_up_when_config_invalid_then_exit_2_naming_the_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("accounts:\n  - id: 'bad id'\n    symbols: [{name: EURUSD}]\n")
    result = mtq("up", "--config", str(bad), "--data", str(tmp_path / "d"), "--nats-port", "0")
    assert result.returncode == 2
    assert "bad.yaml" in result.stderr
    assert "Traceback" not in result.stderr
    assert pids_mentioning(str(tmp_path / "d")) == []
