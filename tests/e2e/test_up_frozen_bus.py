"""A live `mtq up` whose nats-server is frozen (SIGSTOP) past the heartbeat timeout, then
continued: no agent is restarted and the supervisor reports one bus problem (item 7)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client

from bus import subjects
from tests.e2e.up_support import agent_pids, connect_admin, start_up, write_config
from tests.support import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.nats, pytest.mark.slow]

TIMEOUT_S = 10  # the e2e config's: agents on a loaded machine start well within it


async def _listed(nc: Client) -> dict[str, Any]:
    reply = await nc.request(f"{subjects.AGENTS_PREFIX}.list", b"", timeout=5)
    listed: dict[str, Any] = json.loads(reply.data)
    return listed


async def test_up_when_server_frozen_past_heartbeat_timeout_then_no_restart_and_one_bus_problem(
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path)
    assert f"heartbeat_timeout_s: {TIMEOUT_S}" in config.read_text(encoding="utf-8")
    data = tmp_path / "data"
    up = start_up(tmp_path, config, data)
    frozen = False
    server_pid = 0
    try:
        url = up.url()
        nc = await connect_admin(url, data)
        try:

            async def all_healthy() -> dict[str, Any]:
                listed = await _listed(nc)
                assert [a["health"] for a in listed["accounts"]] == ["HEALTHY"] * 2, listed
                return listed

            before = await eventually(all_healthy, timeout=60)
            pids = agent_pids(data)
            server_pid = up.server_pid()
            os.kill(server_pid, signal.SIGSTOP)
            frozen = True
            await eventually(
                lambda: "supervisor: bus problem" in up.text(), timeout=30, message="bus problem"
            )
            # Frozen for longer than the heartbeat timeout (nothing on the bus can be waited
            # for while it is frozen: the time itself is what the test is about).
            await asyncio.sleep(TIMEOUT_S + 1)
            os.kill(server_pid, signal.SIGCONT)
            frozen = False
            await eventually(lambda: "supervisor: bus answering again" in up.text(), timeout=30)
            after = await eventually(all_healthy, timeout=60)
            await eventually(
                lambda: "BusUnreachable" in up.text(), timeout=30, message="one bus alert"
            )
        finally:
            if frozen:
                os.kill(server_pid, signal.SIGCONT)
            await nc.close()
    finally:
        code = up.stop()
    assert code == 0, up.text()[-3000:]
    log = up.text()
    assert log.count("supervisor: bus problem") == 1, log
    assert log.count("supervisor: bus answering again") == 1, log
    assert log.count("BusUnreachable") == 1, log  # one alert for the outage ...
    assert "AgentUnhealthy" not in log, log  # ... not one per agent
    assert "FAILED" not in log, log
    assert "RESTARTING" not in log, log
    assert [a["pid"] for a in after["accounts"]] == [a["pid"] for a in before["accounts"]]
    assert [a["restart_count"] for a in after["accounts"]] == [0, 0]
    assert set(pids.values()) == {a["pid"] for a in after["accounts"]}
    assert after["bus"]["problems"] == 1
    assert after["bus"]["state"] == "ok"
    assert after["bus"]["last"]["lasted_s"] > TIMEOUT_S / 2
