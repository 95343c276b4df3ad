"""`mtq supervisor run` and `mtq status` as real processes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import nats
import pytest

from bus.embedded import EmbeddedNatsServer, free_port
from tests.integration.supervisor_support import pid_alive, unique_id
from tests.support import eventually

pytestmark = [pytest.mark.nats, pytest.mark.slow]

ENV = {k: v for k, v in os.environ.items() if not k.startswith("NATS_")} | {"COLUMNS": "200"}

CONFIG = """
supervisor: {{restart_initial_delay_s: 0.5, heartbeat_timeout_s: 8, health_check_interval_s: 0.2}}
accounts:
  - id: {account}
    terminal:
      kind: simulator
      simulator: {{tick_interval_ms: 50, strategy: {{kind: none}}}}
    agent: {{poll_interval_ms: 50, heartbeat_interval_s: 0.3, account_snapshot_interval_s: 0.5}}
    symbols: [{{name: EURUSD}}]
"""


async def mtq(
    *args: str,
    timeout: float = 30,  # noqa: ASYNC109
    env: dict[str, str] | None = None,
) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "mtq", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env=ENV | (env or {}),
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_status_when_nats_unreachable_then_exit_2_with_one_line() -> None:
    code, out, err = await mtq("status", "--nats-url", f"nats://127.0.0.1:{free_port()}")
    assert code == 2
    assert "cannot reach NATS" in err
    assert len(err.strip().splitlines()) == 1
    assert out == ""


async def test_status_when_no_supervisor_then_exit_1(
    fresh_nats_server: EmbeddedNatsServer,
) -> None:
    code, _, err = await mtq("status", "--nats-url", fresh_nats_server.url)
    assert code == 1
    assert "mtq-agents service did not answer" in err


async def test_supervisor_run_when_started_then_status_shows_agent_and_sigterm_stops_all(
    fresh_nats_server: EmbeddedNatsServer, tmp_path: Path
) -> None:
    url = fresh_nats_server.url
    account = unique_id("cli")
    config = tmp_path / "mtq.yaml"
    config.write_text(CONFIG.format(account=account), encoding="utf-8")
    supervisor = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "mtq", "supervisor", "run", "--config", str(config),
        "--nats-url", url, "--data", str(tmp_path / "data"),
        stdout=asyncio.subprocess.DEVNULL, stderr=(tmp_path / "supervisor.log").open("wb"),
    )  # fmt: skip
    try:

        async def healthy_with_equity() -> dict[str, Any]:
            code, out, err = await mtq("status", account, "--json", "--nats-url", url)
            assert code == 0, err
            (row,) = json.loads(out)["accounts"]
            assert row["health"] == "HEALTHY"
            assert row["equity"] == pytest.approx(100000.0)
            return row  # type: ignore[no-any-return]

        row: dict[str, Any] = await eventually(healthy_with_equity, timeout=40, interval=0.5)
        agent_pid = row["pid"]
        assert row["state"] == "RUNNING"
        assert pid_alive(agent_pid)

        code, out, _ = await mtq("status", "--nats-url", url, env={"COLUMNS": "40"})
        assert code == 0
        header, line = out.splitlines()  # piped: plain lines, one per account, never wrapped
        assert header.split()[:3] == ["account", "state", "health"]
        assert line.split()[:4] == [account, "RUNNING", "HEALTHY", str(agent_pid)]
        assert line.index("RUNNING") == header.index("state")  # aligned with spaces
        assert "100,000.00 USD" in line

        nc = await nats.connect(url)
        try:
            reply = await nc.request("mtq.agents.list", b"", timeout=5)
        finally:
            await nc.close()
        listed = json.loads(reply.data)
        code, out, _ = await mtq("status", "--json", "--nats-url", url)
        shown = json.loads(out)
        assert set(shown) == {"accounts", "services", "bus"}
        assert shown["services"] == []  # `supervisor run` runs agents only
        assert set(listed) == {"accounts", "bus", "services"}
        assert listed["bus"]["state"] == "ok"
        assert [r["account"] for r in shown["accounts"]] == [account]
        assert set(shown["accounts"][0]) == set(listed["accounts"][0]) | {"equity", "currency"}

        code, _, err = await mtq("status", "nobody", "--nats-url", url)
        assert code == 2
        assert "unknown account 'nobody'" in err

        supervisor.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(supervisor.wait(), 20) == 0
        assert not pid_alive(agent_pid)
        assert (tmp_path / "data" / "logs" / f"agent-{account}.log").is_file()
    finally:
        if supervisor.returncode is None:
            supervisor.kill()
            await supervisor.wait()
