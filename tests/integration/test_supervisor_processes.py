"""Supervisor process management with a fake agent that sends real heartbeats."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

import pytest
from nats.aio.client import Client

from agents.supervisor import Health, Reason
from agents.supervisor.supervisor import CommandFactory
from bus.connection import connect, settings_from_env
from bus.embedded import EmbeddedNatsServer
from tests.integration.supervisor_support import (
    LifecycleLog,
    fake_agents,
    fake_supervisor,
    make_config,
    pid_alive,
    provision,
    unique_id,
)
from tests.support import eventually

pytestmark = pytest.mark.nats

# sys.argv is ["-c", "agent", "run", "--account", ID, "--data", DIR, script, args...].
RUN_AS_AGENT = (
    "import runpy, sys; sys.argv = sys.argv[7:]; runpy.run_path(sys.argv[0], run_name='__main__')"
)


def _named_like_agents(command: CommandFactory, data: Path) -> CommandFactory:
    """The fake agent behind a command line like `mtq agent run --account ID --data DIR`."""

    def named(account_id: str) -> list[str]:
        python, *rest = command(account_id)
        words = ["agent", "run", "--account", account_id, "--data", str(data)]
        return [python, "-c", RUN_AS_AGENT, *words, *rest]

    return named


async def test_supervisor_when_started_then_agents_run_healthy_and_stop_leaves_no_children(
    nc: Client, nats_url: str, tmp_path: Path
) -> None:
    js = await provision(nc)
    a, b = unique_id("sup-a"), unique_id("sup-b")
    logs = {acct: await LifecycleLog.follow(js, acct) for acct in (a, b)}
    supervisor = fake_supervisor(make_config([a, b]), nc, nats_url=nats_url, data_dir=tmp_path)
    await supervisor.start()
    try:
        runners = [supervisor.runner(acct) for acct in (a, b)]
        await eventually(lambda: all(r.state == "RUNNING" for r in runners))
        await eventually(lambda: all(r.health.status is Health.HEALTHY for r in runners))
        pids = [supervisor.runner(acct).pid for acct in (a, b)]
        assert all(pid is not None and pid_alive(pid) for pid in pids)
    finally:
        await supervisor.stop()
    assert not [pid for pid in pids if pid is not None and pid_alive(pid)]
    for acct in (a, b):
        await eventually(logs[acct].has(["STARTING", "RUNNING", "STOPPING", "STOPPED"]))
        assert logs[acct].states() == ["STARTING", "RUNNING", "STOPPING", "STOPPED"]
        assert logs[acct].events[-1].reason.startswith("supervisor shutting down")
        assert all(mid.startswith(f"{acct}:lifecycle:") for mid in logs[acct].msg_ids)
        assert len(set(logs[acct].msg_ids)) == 4


async def test_supervisor_when_agent_hangs_then_killed_and_restarted_with_backoff(
    nc: Client, nats_url: str, tmp_path: Path
) -> None:
    js = await provision(nc)
    acct = unique_id("sup-hung")
    log = await LifecycleLog.follow(js, acct)
    config = make_config([acct], heartbeat_timeout_s=1.0, restart_initial_delay_s=0.3)
    supervisor = fake_supervisor(
        config, nc, nats_url=nats_url, data_dir=tmp_path, modes={acct: "silent"}
    )
    await supervisor.start()
    runner = supervisor.runner(acct)
    try:
        first = runner.pid
        assert first is not None
        # silent from its start: killed once the first-sign grace (FIRST_SIGN_S, 10 s) ends
        await eventually(lambda: runner.restart_count == 1, timeout=25)
        assert not pid_alive(first)
        await eventually(log.has(["FAILED"]))
        failed = next(e for e in log.events if e.state == "FAILED")
        assert "unresponsive" in failed.reason
        assert "no sign of life" in failed.reason
        assert failed.reason.endswith("; killed by the supervisor"), failed.reason
        assert "exited with code" not in failed.reason
        await eventually(lambda: runner.pid is not None and runner.pid != first, timeout=5)
        assert runner.state == "STARTING"  # never RUNNING: the silent agent sends nothing
    finally:
        await supervisor.stop()
    await eventually(
        log.has(["STARTING", "FAILED", "RESTARTING", "STARTING", "STOPPING", "STOPPED"])
    )
    restarting = next(e for e in log.events if e.state == "RESTARTING")
    again = [e for e in log.events if e.state == "STARTING"][1]
    assert restarting.reason == "restart 1 in 0.3s"
    waited = (again.time - failed.time).total_seconds()
    assert waited >= 0.3 - 0.01, f"restarted after {waited:.3f}s, before the backoff delay"


async def test_supervisor_when_terminal_disconnected_then_restarted_only_after_grace(
    nc: Client, nats_url: str, tmp_path: Path
) -> None:
    js = await provision(nc)
    acct = unique_id("sup-disc")
    log = await LifecycleLog.follow(js, acct)
    config = make_config([acct], unhealthy_restart_after_s=2.0)
    supervisor = fake_supervisor(
        config, nc, nats_url=nats_url, data_dir=tmp_path, modes={acct: "disconnected"}
    )
    loop = asyncio.get_running_loop()
    await supervisor.start()
    runner = supervisor.runner(acct)
    try:
        await eventually(lambda: runner.health.status is Health.UNHEALTHY)
        unhealthy_at = loop.time()
        first = runner.pid
        await asyncio.sleep(1.0)
        assert runner.pid == first, "restarted before the grace period"
        assert runner.restart_count == 0
        await eventually(lambda: runner.restart_count == 1, timeout=5)
        assert loop.time() - unhealthy_at >= 1.9
        await eventually(log.has(["FAILED"]))
        failed = next(e for e in log.events if e.state == "FAILED")
        assert "unhealthy for" in failed.reason
        assert "terminal disconnected" in failed.reason
    finally:
        await supervisor.stop()


async def test_supervisor_when_agent_ignores_sigterm_then_killed_after_stop_timeout(
    nc: Client, nats_url: str, tmp_path: Path
) -> None:
    js = await provision(nc)
    acct = unique_id("sup-stubborn")
    log = await LifecycleLog.follow(js, acct)
    supervisor = fake_supervisor(
        make_config([acct], stop_timeout_s=0.5),
        nc,
        nats_url=nats_url,
        data_dir=tmp_path,
        modes={acct: "ignore-term"},
    )
    await supervisor.start()
    runner = supervisor.runner(acct)
    await eventually(lambda: runner.state == "RUNNING")
    pid = runner.pid
    assert pid is not None
    await supervisor.stop()
    assert not pid_alive(pid)
    await eventually(log.has(["STOPPING", "STOPPED"]))
    assert "killed by SIGKILL after stop timeout" in log.events[-1].reason


async def test_supervisor_when_agent_crashes_repeatedly_then_delays_grow(
    nc: Client, nats_url: str, tmp_path: Path
) -> None:
    js = await provision(nc)
    acct = unique_id("sup-crash")
    log = await LifecycleLog.follow(js, acct)
    supervisor = fake_supervisor(
        make_config([acct], restart_initial_delay_s=0.2, restart_factor=3),
        nc,
        nats_url=nats_url,
        data_dir=tmp_path,
    )
    await supervisor.start()
    runner = supervisor.runner(acct)
    try:
        for expected in (1, 2):
            await eventually(lambda: runner.state == "RUNNING", timeout=10)
            pid = runner.pid
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            await eventually(lambda n=expected: runner.restart_count == n)  # type: ignore[misc]
        await eventually(lambda: runner.state == "RUNNING", timeout=10)
    finally:
        await supervisor.stop()
    await eventually(log.has(["FAILED", "FAILED", "STOPPED"]))
    restarting = [e.reason for e in log.events if e.state == "RESTARTING"]
    assert restarting == ["restart 1 in 0.2s", "restart 2 in 0.6s"]
    failed = [e.reason for e in log.events if e.state == "FAILED"]
    assert failed == ["killed by SIGKILL", "killed by SIGKILL"]


async def test_supervisor_when_agent_stays_well_after_restart_then_counter_resets(
    nc: Client, nats_url: str, tmp_path: Path
) -> None:
    await provision(nc)
    acct = unique_id("sup-forgive")
    supervisor = fake_supervisor(
        make_config([acct], restart_initial_delay_s=0.2, healthy_reset_after_s=1.0),
        nc,
        nats_url=nats_url,
        data_dir=tmp_path,
    )
    await supervisor.start()
    runner = supervisor.runner(acct)
    try:
        await eventually(lambda: runner.state == "RUNNING")
        pid = runner.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        await eventually(lambda: runner.restart_count == 1 and runner.state == "RUNNING")
        await eventually(lambda: runner.restart_count == 0, timeout=5)
        assert runner.health.status is Health.HEALTHY
    finally:
        await supervisor.stop()


async def test_supervisor_when_agent_left_over_by_crashed_supervisor_then_stopped_first(
    nc: Client, nats_url: str, tmp_path: Path
) -> None:
    await provision(nc)
    acct = unique_id("sup-leftover")
    command = _named_like_agents(fake_agents(nats_url), tmp_path)
    leftover = await asyncio.create_subprocess_exec(*command(acct), start_new_session=True)
    (tmp_path / "run").mkdir()
    gone = await asyncio.create_subprocess_exec("true")  # the crashed supervisor: gone
    await gone.wait()
    record = {"pid": leftover.pid, "owner": gone.pid, "data": str(tmp_path)}
    (tmp_path / "run" / f"agent-{acct}.pid").write_text(json.dumps(record))
    supervisor = fake_supervisor(
        make_config([acct]), nc, nats_url=nats_url, data_dir=tmp_path, command_factory=command
    )
    await supervisor.start()
    runner = supervisor.runner(acct)
    try:
        assert await asyncio.wait_for(leftover.wait(), 5) in (0, -signal.SIGTERM)
        await eventually(lambda: runner.state == "RUNNING")
        assert runner.pid != leftover.pid
        written = json.loads((tmp_path / "run" / f"agent-{acct}.pid").read_text())
        assert written == {"pid": runner.pid, "owner": os.getpid(), "data": str(tmp_path)}
    finally:
        await supervisor.stop()
        if leftover.returncode is None:
            leftover.kill()
            await leftover.wait()
    assert not (tmp_path / "run" / f"agent-{acct}.pid").exists()


async def test_supervisor_when_nats_down_longer_than_heartbeat_timeout_then_agents_not_killed(
    fresh_nats_server: EmbeddedNatsServer, tmp_path: Path
) -> None:
    url = fresh_nats_server.url
    nc = await connect(settings_from_env(url, name="test-supervisor"))
    await provision(nc)
    acct = unique_id("sup-outage")
    supervisor = fake_supervisor(
        make_config([acct], heartbeat_timeout_s=2.0), nc, nats_url=url, data_dir=tmp_path
    )
    await supervisor.start()
    runner = supervisor.runner(acct)
    try:
        await eventually(lambda: runner.health.status is Health.HEALTHY)
        pid = runner.pid
        fresh_nats_server.stop()
        await eventually(lambda: not supervisor.bus.ok, timeout=5)
        assert runner.health.reasons == (Reason.BUS_UNREACHABLE,)
        await asyncio.sleep(2.5)  # past the heartbeat timeout
        fresh_nats_server.start()
        await eventually(lambda: runner.health.status is Health.HEALTHY, timeout=15)
        assert runner.pid == pid
        assert runner.restart_count == 0

        # Lifecycle events from an outage are stored, in order, once NATS is back.
        fresh_nats_server.stop()
        await supervisor.stop_agents(acct)
        assert runner.state == "STOPPED"
        fresh_nats_server.start()
        log = await LifecycleLog.follow(nc.jetstream(), acct)
        await eventually(log.has(["STARTING", "RUNNING", "STOPPING", "STOPPED"]), timeout=15)
        assert log.states() == ["STARTING", "RUNNING", "STOPPING", "STOPPED"]
    finally:
        await supervisor.stop()
        await nc.close()
