"""SIGKILL the engine child of a live `mtq up` under the demo load: it is restarted, and RISK
equals what one uninterrupted engine records for the same log (issue 21 item 8).

The demo's agents ask for pre-trade checks, whose answers RISK records too, so the
uninterrupted run is `mtq audit verify`'s: every fact and recorded request replayed through
one engine, compared byte for byte.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client

from bus import subjects
from bus.security.client import ClientAuth
from engine.store import open_store
from tests.e2e.up_support import admin_creds, connect_admin, start_up
from tests.support import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.nats, pytest.mark.slow]

DEMO = Path(__file__).resolve().parents[2] / "config" / "examples" / "demo.yaml"
DEMO_ACCOUNTS = ("ftmo-001", "trail-002", "strict-003")


async def _services(nc: Client) -> dict[str, dict[str, Any]]:
    reply = await nc.request(f"{subjects.AGENTS_PREFIX}.list", b"", timeout=5)
    return {s["service"]: s for s in json.loads(reply.data)["services"]}


async def _risk_last(nc: Client) -> int:
    return int((await nc.jetstream().stream_info(subjects.STREAM_RISK)).state.last_seq)


async def test_up_when_engine_child_sigkilled_under_demo_load_then_restarted_and_replay_identical(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    up = start_up(tmp_path, DEMO, data)
    auth = ClientAuth(creds_file=admin_creds(data))
    try:
        url = up.url()
        nc = await connect_admin(url, data)
        try:
            await eventually(lambda: _risk_last(nc), timeout=90, message="first decisions")
            engine = (await eventually(lambda: _services(nc), timeout=60))["engine"]
            assert engine["state"] == "RUNNING"
            killed_pid = engine["pid"]
            at_kill = await _risk_last(nc)
            os.kill(killed_pid, signal.SIGKILL)

            async def restarted() -> bool:
                now = (await _services(nc))["engine"]
                return now["state"] == "RUNNING" and now["pid"] not in (None, killed_pid)

            await eventually(restarted, timeout=60, message="engine restarted")
            engine = (await _services(nc))["engine"]
            assert engine["restart_count"] == 1
            assert engine["last_exit"] == "killed by SIGKILL"
            shown = await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-m", "mtq", "status", "--data", str(data)],
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert shown.returncode == 0, shown.stderr
            (line,) = [w.split() for w in shown.stdout.splitlines() if w.startswith("risk engine")]
            assert line[2:5] == ["RUNNING", str(engine["pid"]), "1"], shown.stdout
            # The restarted engine decides again: RISK grows past where the kill left it.
            await eventually(lambda: _grew(nc, at_kill), timeout=90, message="RISK grows")

            # Quiet the load, then let the engine decide every fact there is.
            await nc.request(f"{subjects.AGENTS_PREFIX}.stop", b"", timeout=30)
            await eventually(lambda: _all_stopped(nc), timeout=30, message="agents' STOPPED")
            last_fact = int(
                (await nc.jetstream().stream_info(subjects.STREAM_FACTS)).state.last_seq
            )
            store = open_store(url, auth=auth)
            await eventually(
                lambda: store.tracking() >= last_fact, timeout=60, message="engine caught up"
            )
            audit = await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-m", "mtq", "audit", "verify", "--nats-url", url],
                capture_output=True,
                text=True,
                timeout=300,
                env={**os.environ, "NATS_CREDS": admin_creds(data)},
            )
            # verify replays every fact and recorded request through one uninterrupted
            # engine and must reproduce RISK byte for byte.
            assert audit.returncode == 0, audit.stdout + audit.stderr
            assert audit.stdout.startswith("identical:"), audit.stdout
            decided = int(audit.stdout.split(" decisions")[0].rsplit(" ", 1)[-1])
            assert decided > 3, audit.stdout
        finally:
            await nc.close()
    finally:
        code = up.stop()
    assert code == 0, up.text()[-3000:]
    assert "risk engine: killed by SIGKILL; restart 1 in" in up.text()


async def _grew(nc: Client, before: int) -> bool:
    return await _risk_last(nc) > before


async def _all_stopped(nc: Client) -> bool:
    """Every demo account's last lifecycle fact is STOPPED: no more facts will come."""
    js = nc.jetstream()
    for account in DEMO_ACCOUNTS:
        msg = await js.get_last_msg(subjects.STREAM_FACTS, subjects.lifecycle(account))
        if json.loads(msg.data or b"{}").get("state") != "STOPPED":
            return False
    return True
