"""The agent as a real process: `python -m mtq agent run`."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
from nats.aio.client import Client

from bus.schemas import AgentHeartbeat, PositionClosed, PositionOpened, TickReceived
from bus.topology import ensure_topology
from tests.integration.agent_support import decoded, read_subject, until

pytestmark = [pytest.mark.nats, pytest.mark.slow]

CONFIG = """
accounts:
  - id: {account}
    terminal:
      kind: simulator
      simulator:
        seed: 5
        tick_interval_ms: 50
        strategy: {{kind: random, open_probability: 0.3, close_probability: 0.05,
                    max_positions: 3}}
    agent: {{poll_interval_ms: 25, heartbeat_interval_s: 0.2}}
    symbols: [{{name: EURUSD}}, {{name: XAUUSD}}]
"""


def _start(config: Path, account: str, nats_url: str, data: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "mtq", "agent", "run", "--account", account,
         "--config", str(config), "--nats-url", nats_url, "--data", str(data)],
        stdout=subprocess.DEVNULL, stderr=(data.parent / "agent.log").open("ab"),
    )  # fmt: skip


def _config(tmp_path: Path) -> tuple[str, Path]:
    account = f"proc-{uuid.uuid4().hex[:8]}"
    path = tmp_path / "mtq.yaml"
    path.write_text(CONFIG.format(account=account), encoding="utf-8")
    return account, path


async def test_agent_process_when_running_then_publishes_and_stops_cleanly_on_sigterm(
    nc: Client, nats_url: str, tmp_path: Path
) -> None:
    await ensure_topology(nc.jetstream())
    account, config = _config(tmp_path)
    proc = _start(config, account, nats_url, tmp_path / "data")
    try:

        async def published() -> bool:
            facts = decoded(await read_subject(nc, f"mt5.{account}.tick.*", idle=0.3))
            facts += decoded(await read_subject(nc, f"mt5.{account}.health", idle=0.3))
            assert any(isinstance(f, TickReceived) and f.symbol == "XAUUSD" for f in facts)
            assert any(isinstance(f, AgentHeartbeat) and f.pid == proc.pid for f in facts)
            return True

        await until(published, timeout=15)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=8) == 0
        assert time.monotonic() - started < 5
        assert (tmp_path / "data" / f"agent-{account}.sqlite").is_file()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


async def test_agent_process_when_sigkilled_and_restarted_then_no_duplicate_position_facts(
    nc: Client, nats_url: str, tmp_path: Path
) -> None:
    await ensure_topology(nc.jetstream())
    account, config = _config(tmp_path)
    data = tmp_path / "data"

    async def opened_count() -> int:
        facts = decoded(await read_subject(nc, f"mt5.{account}.position.*", idle=0.3))
        return sum(isinstance(f, PositionOpened) for f in facts)

    proc = _start(config, account, nats_url, data)
    try:
        await until(opened_count, timeout=15)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=5)
        proc = _start(config, account, nats_url, data)

        async def restarted() -> bool:
            beats = decoded(await read_subject(nc, f"mt5.{account}.health", idle=0.3))
            return any(isinstance(b, AgentHeartbeat) and b.pid == proc.pid and b.sequence > 3
                       for b in beats)  # fmt: skip

        await until(restarted, timeout=15)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=8) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    facts = decoded(await read_subject(nc, f"mt5.{account}.position.*", idle=0.3))
    keys = Counter((type(f).__name__, f.ticket) for f in facts
                   if isinstance(f, PositionOpened | PositionClosed))  # fmt: skip
    assert keys, "no position facts"
    assert max(keys.values()) == 1, [k for k, n in keys.items() if n > 1]
