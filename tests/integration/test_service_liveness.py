"""A service child whose liveness pipe falls silent is hung: killed and restarted, alone
(issue 21 item 8). Real child processes: small ones beating as the engine does, and the
projector of a real `mtq up`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client

from agents.supervisor.services import ServiceRunner, ServiceSpec
from bus import subjects
from bus.backoff import Backoff
from bus.child_env import child_environment
from tests.e2e.up_support import CONFIG, connect_admin, start_up
from tests.support import eventually

CHILD = Path(__file__).with_name("service_liveness_child.py")
ROOT = Path(__file__).resolve().parents[2]
KILLED_HUNG = re.compile(r"^unresponsive: no sign of life for \d+ s; killed by the supervisor")


def spec(key: str, mode: str, *, seconds: float = 0.0, timeout_s: float = 2.0) -> ServiceSpec:
    return ServiceSpec(
        name=f"test {key}",
        key=key,
        command=(sys.executable, str(CHILD), mode, str(seconds)),
        env={**child_environment(), "PYTHONPATH": str(ROOT)},
        backoff=Backoff(initial_s=0.1, factor=2.0, max_s=1.0),
        stop_timeout_s=3.0,
        liveness_timeout_s=timeout_s,
    )


@contextlib.asynccontextmanager
async def running(*runners: ServiceRunner) -> AsyncIterator[None]:
    try:
        for runner in runners:
            await runner.start()
        yield
    finally:
        for runner in runners:
            await runner.stop()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def restarted_from(runner: ServiceRunner, old_pid: int) -> Callable[[], bool]:
    return lambda: runner.state == "RUNNING" and runner.pid not in (None, old_pid)


async def test_service_when_child_sigstopped_then_killed_restarted_alone_and_reason_kept(
    caplog: pytest.LogCaptureFixture,
) -> None:
    frozen, neighbour = ServiceRunner(spec("frozen", "beat")), ServiceRunner(spec("near", "beat"))
    caplog.set_level(logging.WARNING, logger="agents.supervisor.services")
    async with running(frozen, neighbour):
        stopped, near_pid = frozen.pid, neighbour.pid
        assert stopped is not None
        assert near_pid is not None
        await eventually(lambda: (frozen.alive_age_s() or 9) < 1, message="beats arrive")
        os.kill(stopped, signal.SIGSTOP)

        await eventually(restarted_from(frozen, stopped), timeout=30, message="frozen restarted")
        assert frozen.restart_count == 1
        assert frozen.last_exit is not None
        assert KILLED_HUNG.match(frozen.last_exit)
        assert frozen.last_exit.endswith("killed by the supervisor")  # SIGCONT: it ended on TERM
        assert not pid_alive(stopped)
        assert frozen.status()["last_exit"] == frozen.last_exit
        messages = [r.getMessage() for r in caplog.records]
        found, restart = [m for m in messages if "unresponsive" in m]
        assert found.startswith("test frozen: unresponsive: no sign of life on its pipe for ")
        assert found.endswith(f"(pid {stopped}); killing it")
        assert restart == f"test frozen: {frozen.last_exit}; restart 1 in 0.1s"
        await eventually(lambda: (frozen.alive_age_s() or 9) < 1, message="the new one beats")
        assert neighbour.state == "RUNNING"
        assert (neighbour.pid, neighbour.restart_count, neighbour.last_exit) == (near_pid, 0, None)


async def test_service_when_event_loop_blocks_then_sigkilled_after_stop_timeout_and_restarted() -> (
    None
):
    blocked = ServiceRunner(spec("blocked", "block"))
    async with running(blocked):
        first = blocked.pid
        assert first is not None
        await eventually(restarted_from(blocked, first), timeout=30, message="blocked restarted")
        assert blocked.restart_count >= 1
        assert blocked.last_exit is not None
        assert KILLED_HUNG.match(blocked.last_exit)
        assert blocked.last_exit.endswith("killed by SIGKILL after stop timeout")
        assert not pid_alive(first)


async def test_service_when_busy_but_beating_longer_than_the_timeout_then_not_restarted() -> None:
    lines: list[str] = []
    done = asyncio.Event()

    def on_line(text: str) -> None:
        lines.append(text)
        if text == "busy done":
            done.set()

    busy = ServiceRunner(spec("busy", "busy", seconds=6.0, timeout_s=2.0), on_line=on_line)
    async with running(busy):
        pid = busy.pid
        await asyncio.wait_for(done.wait(), timeout=60)  # three timeouts of work
        assert (busy.state, busy.pid, busy.restart_count, busy.last_exit) == (
            "RUNNING",
            pid,
            0,
            None,
        ), lines
        age = busy.alive_age_s()
        assert age is not None
        assert age < 2.0


# --- the projector of a real `mtq up` ------------------------------------------------

UP_CONFIG = CONFIG.replace(
    "health_check_interval_s: 0.2}", "health_check_interval_s: 0.2, service_liveness_timeout_s: 5}"
)


async def _parts(nc: Client) -> dict[str, Any]:
    reply = await nc.request(f"{subjects.AGENTS_PREFIX}.list", b"", timeout=5)
    body: dict[str, Any] = json.loads(reply.data)
    return body


def _by_key(body: dict[str, Any], field: str, key: str) -> dict[str, dict[str, Any]]:
    return {row[key]: row for row in body[field]}


@pytest.mark.nats
@pytest.mark.slow
@pytest.mark.e2e
async def test_up_when_projector_child_sigstopped_then_it_alone_is_restarted_and_status_says_why(
    tmp_path: Path,
) -> None:
    assert UP_CONFIG != CONFIG
    config = tmp_path / "mtq.yaml"
    config.write_text(UP_CONFIG, encoding="utf-8")
    data = tmp_path / "data"
    up = start_up(tmp_path, config, data)
    try:
        nc = await connect_admin(up.url(), data)
        try:

            async def all_running() -> dict[str, Any]:
                body = await _parts(nc)
                states = [s["state"] for s in body["services"]] + [
                    a["state"] for a in body["accounts"]
                ]
                assert states, body
                assert set(states) == {"RUNNING"}, states
                return body

            before = await eventually(all_running, timeout=90, message="everything running")
            services = _by_key(before, "services", "service")
            assert set(services) == {"engine", "projector", "api"}
            assert all(s["alive_age_s"] is not None for s in services.values())
            stopped = services["projector"]["pid"]
            os.kill(stopped, signal.SIGSTOP)

            async def projector_back() -> dict[str, Any]:
                body = await _parts(nc)
                now = _by_key(body, "services", "service")["projector"]
                assert now["state"] == "RUNNING", now
                assert now["pid"] not in (None, stopped), now
                return body

            after = await eventually(projector_back, timeout=90, message="projector restarted")
            now = _by_key(after, "services", "service")
            assert now["projector"]["restart_count"] == 1
            assert KILLED_HUNG.match(now["projector"]["last_exit"]), now["projector"]
            assert not pid_alive(stopped)
            for key in ("engine", "api"):
                assert (now[key]["pid"], now[key]["restart_count"]) == (
                    services[key]["pid"],
                    0,
                ), now[key]
            before_agents = _by_key(before, "accounts", "account")
            for account, agent in _by_key(after, "accounts", "account").items():
                assert agent["pid"] == before_agents[account]["pid"], agent
                assert agent["restart_count"] == 0, agent
        finally:
            await nc.close()
        shown = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "mtq", "status", "--data", str(data)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert shown.returncode == 0, shown.stderr
        header = next(line for line in shown.stdout.splitlines() if line.startswith("service"))
        assert " alive " in header, shown.stdout
        (row,) = [line for line in shown.stdout.splitlines() if line.startswith("projector")]
        assert "unresponsive: no sign of life for" in row, shown.stdout
        assert "killed by the supervisor" in row, shown.stdout
        assert re.search(r"\d+\.\ds ago", row), shown.stdout
        assert "unresponsive: no sign of life on its pipe" in up.text()
    finally:
        assert up.stop() == 0, up.text()
