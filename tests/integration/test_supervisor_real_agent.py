"""The supervisor with real `python -m mtq agent run` processes on the simulator."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from pathlib import Path

import pytest
from nats.aio.client import Client

from agents.supervisor import Health, Reason, Supervisor
from config import load_config
from tests.integration.supervisor_support import LifecycleLog, pid_alive, provision, unique_id
from tests.support import eventually

pytestmark = [pytest.mark.nats, pytest.mark.slow]

CONFIG = """
supervisor:
  restart_initial_delay_s: 0.5
  restart_factor: 2
  restart_max_delay_s: 5
  stop_timeout_s: 5
  heartbeat_timeout_s: 8
  health_check_interval_s: 0.1
  unhealthy_restart_after_s: 60
accounts:
  - id: {account}
    terminal:
      kind: simulator
      simulator:
        seed: 7
        tick_interval_ms: 50
        strategy: {{kind: none}}
        faults: {faults}
    agent:
      poll_interval_ms: 25
      heartbeat_interval_s: 0.2
      stale_feed_seconds: 1.0
      slow_terminal_ms: 2000
      reconnect: {{initial_delay_s: 0.2, max_delay_s: 0.5}}
      breaker: {{recovery_seconds: 1}}
    symbols: [{{name: EURUSD}}]
"""


async def _supervise(
    nc: Client, nats_url: str, tmp_path: Path, account: str, faults: str = "[]"
) -> Supervisor:
    await provision(nc)
    path = tmp_path / "mtq.yaml"
    path.write_text(CONFIG.format(account=account, faults=faults), encoding="utf-8")
    supervisor = Supervisor(
        load_config([path]),
        nc,
        config_paths=[path],
        nats_url=nats_url,
        data_dir=tmp_path / "data",
        serve=False,
    )
    await supervisor.start()
    return supervisor


async def test_real_agent_when_sigkilled_then_restarted_after_backoff_with_lifecycle_events(
    nc: Client, nats_url: str, tmp_path: Path
) -> None:
    account = unique_id("real-kill")
    log = await LifecycleLog.follow(await provision(nc), account)
    supervisor = await _supervise(nc, nats_url, tmp_path, account)
    runner = supervisor.runner(account)
    try:
        await eventually(lambda: runner.health.status is Health.HEALTHY, timeout=20)
        first = runner.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        await eventually(
            lambda: runner.restart_count == 1 and runner.state == "RUNNING", timeout=20
        )
        second = runner.pid
        assert second is not None
        assert second != first
        assert not pid_alive(first)
        await eventually(lambda: runner.health.status is Health.HEALTHY, timeout=10)
        await eventually(log.has(["RUNNING", "FAILED", "RESTARTING", "STARTING", "RUNNING"]))
    finally:
        await supervisor.stop()
    assert not pid_alive(second)
    await eventually(log.has(["STOPPING", "STOPPED"], since=5))
    events = log.events
    assert [e.state for e in events] == [
        "STARTING", "RUNNING", "FAILED", "RESTARTING", "STARTING", "RUNNING", "STOPPING", "STOPPED",
    ]  # fmt: skip
    assert [e.restart_count for e in events] == [0, 0, 0, 1, 1, 1, 1, 1]
    assert events[2].reason == "killed by SIGKILL"
    assert events[2].pid is None
    assert events[1].pid == first
    assert events[5].pid == second
    waited = (events[4].time - events[2].time).total_seconds()
    assert 0.5 <= waited < 5.0, f"restart came {waited:.2f}s after the crash"
    assert events[3].reason == "restart 1 in 0.5s"
    assert len(set(log.msg_ids)) == len(events)


async def test_real_agent_when_simulator_faults_then_health_degrades_and_recovers_in_place(
    nc: Client, nats_url: str, tmp_path: Path
) -> None:
    account = unique_id("real-fault")
    faults = (
        "[{kind: stale_feed, start_s: 3, duration_s: 2.5},"
        " {kind: disconnect, start_s: 7, duration_s: 2.5}]"
    )
    supervisor = await _supervise(nc, nats_url, tmp_path, account, faults)
    runner = supervisor.runner(account)
    seen: list[tuple[Health, tuple[Reason, ...]]] = []

    async def watch() -> None:
        while True:
            report = runner.health
            if not seen or seen[-1] != (report.status, report.reasons):
                seen.append((report.status, report.reasons))
            await asyncio.sleep(0.05)

    watcher = asyncio.create_task(watch())
    try:
        await eventually(lambda: runner.health.status is Health.HEALTHY, timeout=20)
        pid = runner.pid

        def went(*statuses: Health) -> bool:
            it = iter(status for status, _ in seen)
            return all(any(s is want for s in it) for want in statuses)

        await eventually(lambda: went(Health.HEALTHY, Health.DEGRADED, Health.HEALTHY), timeout=20)
        await eventually(
            lambda: went(
                Health.HEALTHY,
                Health.DEGRADED,
                Health.HEALTHY,
                Health.UNHEALTHY,
                Health.HEALTHY,
            ),
            timeout=25,
        )
        assert runner.pid == pid, "the agent was restarted for faults it recovers from itself"
        assert runner.restart_count == 0
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        await supervisor.stop()
    reasons = {reason for _, found in seen for reason in found}
    assert Reason.STALE_FEED in reasons
    assert Reason.TERMINAL_DISCONNECTED in reasons
    assert seen[0][0] is Health.UNKNOWN
