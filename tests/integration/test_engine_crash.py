"""Crash determinism: an engine SIGKILLed at random points records exactly what an
uninterrupted engine records for the same fact log, and sends no command twice."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import nats
import pytest

from bus import subjects
from bus.embedded import EmbeddedNatsServer
from bus.topology import ensure_topology
from engine.store import open_store
from tests.integration.engine_scenario import ScriptedFact, scenario_config, scripted_facts
from tests.integration.engine_support import (
    load,
    read_decisions,
    running_engine,
    settled,
    stream_messages,
)

pytestmark = [pytest.mark.nats, pytest.mark.slow]

ACCOUNTS = 50
PER_ACCOUNT = 420  # 21,000 facts
KILLS = 10
"""At most; a kill only lands while facts are still waiting to be decided."""


async def _publish(url: str, facts: list[ScriptedFact], per_second: float | None) -> int:
    nc = await nats.connect(url)
    js = nc.jetstream()
    await ensure_topology(js)
    chunk = 100
    last = 0
    try:
        for start in range(0, len(facts), chunk):
            acks = await asyncio.gather(
                *[
                    await js.publish_async(f.subject, f.data, headers={"Nats-Msg-Id": f.msg_id})
                    for f in facts[start : start + chunk]
                ]
            )
            last = max(last, *(a.seq for a in acks))
            if per_second:
                await asyncio.sleep(chunk / per_second)
    finally:
        await nc.close()
    return last


def _engine(config: Path, url: str, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mtq",
            "engine",
            "run",
            "--config",
            str(config),
            "--nats-url",
            url,
            "--log-level",
            "WARNING",
        ],
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def _by_account(url: str) -> dict[str, list[tuple[str, bytes]]]:
    out: dict[str, list[tuple[str, bytes]]] = {}
    for d in read_decisions(url):
        out.setdefault(d.account_id, []).append((d.type, d.raw))
    return out


async def _wait_tracking(url: str, last_seq: int, timeout: float) -> None:  # noqa: ASYNC109
    store = open_store(url)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (done := await asyncio.to_thread(store.tracking)) < last_seq:
        assert loop.time() < deadline, f"engine tracked {done} of {last_seq} facts"
        await asyncio.sleep(0.2)


async def _wait_started(log: Path, count: int, timeout: float) -> None:  # noqa: ASYNC109
    """Until `count` engines have printed their start line (signals are handled from then)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (await asyncio.to_thread(log.read_text)).count("risk engine for ") < count:
        assert loop.time() < deadline, "the last engine never printed its start line"
        await asyncio.sleep(0.1)


async def test_engine_when_sigkilled_at_random_points_then_decisions_equal_uninterrupted_run(
    tmp_path: Path, fresh_nats_server: EmbeddedNatsServer
) -> None:
    facts = scripted_facts(ACCOUNTS, PER_ACCOUNT)
    assert len(facts) >= 20_000
    config_path = scenario_config(tmp_path, ACCOUNTS)
    url = fresh_nats_server.url
    rng = random.Random(20261201)
    log = tmp_path / "engine.log"

    nc = await nats.connect(url)
    await ensure_topology(nc.jetstream())
    await nc.close()
    publisher = asyncio.create_task(_publish(url, facts, per_second=800))
    store = open_store(url)
    progress: list[tuple[int, int]] = []  # the committed fact position before and at each kill
    while len(progress) < KILLS:
        before = await asyncio.to_thread(store.tracking)
        if publisher.done() and before >= publisher.result():
            break  # all decided: a run now would have nothing to be killed in the middle of
        proc = _engine(config_path, url, log)
        await _wait_tracking(url, before + 1, timeout=60)  # it has committed work: kill mid-run
        await asyncio.sleep(rng.uniform(0.0, 1.5))
        assert proc.poll() is None, log.read_text()[-2000:]
        proc.send_signal(signal.SIGKILL)
        await asyncio.to_thread(proc.wait)
        progress.append((before, await asyncio.to_thread(store.tracking)))
    last_seq = await publisher
    # The kills landed mid-work: every run committed something before it was killed, and
    # most were killed while facts were still waiting (the log ran on past their position).
    assert len(progress) >= KILLS * 2 // 3, progress
    assert all(at_kill > before for before, at_kill in progress), progress
    mid_run = sum(1 for _, at_kill in progress if at_kill < last_seq)
    assert mid_run >= len(progress) // 2, (progress, last_seq)
    started = log.read_text().count("risk engine for ")
    proc = _engine(config_path, url, log)
    try:
        await _wait_tracking(url, last_seq, timeout=120)
        # the last killed run may have caught up already: stop this one only once it runs
        await _wait_started(log, started + 1, timeout=60)
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.to_thread(proc.wait, 20)
    assert proc.returncode == 0, log.read_text()[-2000:]
    crashed = _by_account(url)

    with EmbeddedNatsServer(data_dir=tmp_path / "calm") as calm:
        calm_last = await _publish(calm.url, facts, per_second=None)
        assert calm_last == last_seq
        async with running_engine(calm.url, load(config_path)) as process:
            await settled(process, calm_last, timeout=120)
        calm_decisions = _by_account(calm.url)

    assert sorted(crashed) == sorted(calm_decisions)
    assert sum(len(v) for v in calm_decisions.values()) > ACCOUNTS * 5
    types = Counter(t for v in calm_decisions.values() for t, _ in v)
    assert types["LiquidationOrdered"] > 0
    assert types["DrawdownBreached"] > 0
    for account_id, decisions in calm_decisions.items():
        assert crashed[account_id] == decisions, f"{account_id} differs"

    audit = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "mtq", "audit", "verify", "--nats-url", url],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert audit.stdout.startswith(f"identical: {len(facts)} facts")

    nc = await nats.connect(url)
    try:
        commands = await stream_messages(nc.jetstream(), subjects.STREAM_CMD)
    finally:
        await nc.close()
    ids = Counter(body["command_id"] for _, body, _ in commands)
    ordered = Counter(
        json.loads(raw)["command_id"]
        for decisions in crashed.values()
        for kind, raw in decisions
        if kind in ("LiquidationOrdered", "PositionCloseOrdered", "TradingStateChanged")
    )
    assert ordered
    assert max(ordered.values()) == 1  # each command decided once, whatever the kills
    assert set(ids) == set(ordered)  # CMD holds every command a decision ordered, nothing else
    # No agent answers here, so every start re-sends what is outstanding under the same id
    # (JetStream drops it within its duplicate window, the agent by the id after that).
    assert max(ids.values()) <= len(progress) + 1, ids.most_common(3)
