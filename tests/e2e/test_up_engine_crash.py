"""SIGKILL the engine child of a live `mtq up` under the demo load: it is restarted, and RISK
equals what an uninterrupted engine records for the same fact log (issue 21 item 8)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.client import Client

from bus import subjects
from bus.embedded import EmbeddedNatsServer
from bus.security.client import ClientAuth
from bus.topology import ensure_topology
from engine.store import open_store
from tests.e2e.up_support import admin_creds, connect_admin, start_up
from tests.integration.engine_support import load, running_engine, settled
from tests.support import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.nats, pytest.mark.slow]

DEMO = Path(__file__).resolve().parents[2] / "config" / "examples" / "demo.yaml"
DEMO_ACCOUNTS = ("ftmo-001", "trail-002", "strict-003")


async def _services(nc: Client) -> dict[str, dict[str, Any]]:
    reply = await nc.request(f"{subjects.AGENTS_PREFIX}.list", b"", timeout=5)
    return {s["service"]: s for s in json.loads(reply.data)["services"]}


async def _risk_last(nc: Client) -> int:
    return int((await nc.jetstream().stream_info(subjects.STREAM_RISK)).state.last_seq)


def _decisions(url: str, auth: ClientAuth | None) -> dict[str, list[bytes]]:
    """Every RISK event's stored bytes, by account, in stream order."""
    store = open_store(url, auth=auth)
    found: dict[str, list[bytes]] = {}
    start = 1
    while True:
        page = store.recorder.select_notifications(start, 1000)
        for n in page:
            account = json.loads(n.state).get("account_id", "")
            found.setdefault(account, []).append(n.state)
        if len(page) < 1000:
            return found
        start = page[-1].id + 1


async def _copy_facts(source: Client, target: Client) -> int:
    """Every MT5 fact of `source`, republished on `target` with its id; the last sequence."""
    js, out = source.jetstream(), target.jetstream()
    await ensure_topology(out)
    info = await js.stream_info(subjects.STREAM_FACTS)
    last = 0
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        msg = await js.get_msg(subjects.STREAM_FACTS, seq)
        ack = await out.publish(msg.subject or "", msg.data or b"", headers=msg.headers)
        last = ack.seq
    return last


async def test_up_when_engine_child_sigkilled_under_demo_load_then_restarted_and_risk_as_calm(
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
            crashed = await asyncio.to_thread(_decisions, url, auth)

            audit = await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-m", "mtq", "audit", "verify", "--nats-url", url],
                capture_output=True,
                text=True,
                timeout=300,
                env={**os.environ, "NATS_CREDS": admin_creds(data)},
            )
            assert audit.returncode == 0, audit.stdout + audit.stderr
            assert audit.stdout.startswith("identical:"), audit.stdout

            with EmbeddedNatsServer(data_dir=tmp_path / "calm") as calm:
                calm_nc = await nats.connect(calm.url)
                try:
                    calm_last = await _copy_facts(nc, calm_nc)
                finally:
                    await calm_nc.close()
                async with running_engine(calm.url, load(DEMO)) as process:
                    await settled(process, calm_last, timeout=120)
                calm_decisions = await asyncio.to_thread(_decisions, calm.url, None)
        finally:
            await nc.close()
    finally:
        code = up.stop()
    assert code == 0, up.text()[-3000:]
    assert sorted(crashed) == sorted(calm_decisions)
    assert sum(len(v) for v in calm_decisions.values()) > 3
    for account_id, decisions in calm_decisions.items():
        assert crashed[account_id] == decisions, f"{account_id} differs"
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
