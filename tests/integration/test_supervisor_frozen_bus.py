"""A frozen nats-server (SIGSTOP, then SIGCONT) is one bus problem, not N agent failures."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from agents.supervisor import Health, Reason
from bus.connection import connect, settings_from_env
from bus.embedded import EmbeddedNatsServer
from tests.integration.supervisor_support import (
    LifecycleLog,
    fake_supervisor,
    make_config,
    provision,
    unique_id,
)
from tests.support import eventually

pytestmark = pytest.mark.nats

TIMEOUT_S = 3.0


async def test_supervisor_when_server_frozen_past_heartbeat_timeout_then_no_restart_one_bus_problem(
    fresh_nats_server: EmbeddedNatsServer, tmp_path: Path
) -> None:
    url = fresh_nats_server.url
    nc = await connect(settings_from_env(url, name="test-supervisor"))
    js = await provision(nc)
    accounts = [unique_id(f"frozen-{n}") for n in range(3)]
    logs = {a: await LifecycleLog.follow(js, a) for a in accounts}
    config = make_config(accounts, heartbeat_timeout_s=TIMEOUT_S)
    supervisor = fake_supervisor(config, nc, nats_url=url, data_dir=tmp_path)
    await supervisor.start()
    runners = [supervisor.runner(a) for a in accounts]
    server_pid = fresh_nats_server.pid
    assert server_pid is not None
    frozen = False
    try:
        await eventually(lambda: all(r.health.status is Health.HEALTHY for r in runners))
        pids = [r.pid for r in runners]

        os.kill(server_pid, signal.SIGSTOP)
        frozen = True
        # Frozen for longer than the heartbeat timeout: every heartbeat is overdue.
        await eventually(lambda: all(r.heartbeat_silent() for r in runners), timeout=15)
        assert not supervisor.bus.ok
        assert all(r.health.reasons == (Reason.BUS_UNREACHABLE,) for r in runners)
        continued_at = time.monotonic()
        os.kill(server_pid, signal.SIGCONT)
        frozen = False

        await eventually(lambda: supervisor.bus.ok, timeout=15)
        await eventually(
            lambda: all(r.health.status is Health.HEALTHY for r in runners), timeout=15
        )
        assert [r.pid for r in runners] == pids
        assert [r.restart_count for r in runners] == [0, 0, 0]
        assert [r.state for r in runners] == ["RUNNING"] * 3
        bus = supervisor.bus_status()
        assert bus["problems"] == 1, bus
        assert bus["state"] == "ok"
        problem = supervisor.bus.problems[0]
        assert problem.lasted_s is not None
        assert problem.started_at < continued_at < problem.started_at + problem.lasted_s
    finally:
        if frozen:
            os.kill(server_pid, signal.SIGCONT)
        await supervisor.stop()
    try:  # the lifecycle log follows on `nc`: read the last states before closing it
        for account in accounts:
            await eventually(logs[account].has(["STOPPED"]), timeout=15)
            assert logs[account].states() == ["STARTING", "RUNNING", "STOPPING", "STOPPED"]
    finally:
        await nc.close()


async def test_supervisor_when_one_agent_alive_but_off_the_bus_then_unhealthy_not_restarted(
    fresh_nats_server: EmbeddedNatsServer, tmp_path: Path
) -> None:
    url = fresh_nats_server.url
    nc = await connect(settings_from_env(url, name="test-supervisor"))
    await provision(nc)
    mute, well = unique_id("mute"), unique_id("well")
    config = make_config([mute, well], heartbeat_timeout_s=1.0, unhealthy_restart_after_s=600)
    supervisor = fake_supervisor(config, nc, nats_url=url, data_dir=tmp_path, modes={mute: "mute"})
    await supervisor.start()
    runner = supervisor.runner(mute)
    try:
        first = runner.pid
        await eventually(lambda: runner.health.status is Health.UNHEALTHY, timeout=10)
        assert runner.health.reasons == (Reason.NO_HEARTBEAT,)
        await eventually(lambda: runner.status()["alive_age_s"] is not None)
        assert supervisor.runner(well).health.status is Health.HEALTHY
        assert supervisor.bus.ok  # one quiet agent is that agent's problem, not the bus's
        assert runner.pid == first
        assert runner.restart_count == 0
        assert runner.state == "STARTING"
    finally:
        await supervisor.stop()
        await nc.close()
