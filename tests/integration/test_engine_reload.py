"""`mtq reload` over a real nats-server (issue 19): a daily limit tightened while facts
stream in; the next fact after the recorded `LimitsChanged` (with the actor) is decided by
the new limit. An invalid config is refused with file:line and the old limits stay."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from nats.aio.client import Client

from engine.audit_run import run_verify
from engine.store import open_store
from tests.e2e.cli import mtq
from tests.integration.engine_support import (
    T0,
    FactFeed,
    load,
    read_decisions,
    running_engine,
    settled,
    write_config,
)

pytestmark = pytest.mark.nats

ACCOUNT = """\
  - id: rl-1
    risk:
      initial_capital: 100000
      daily_loss: {{limit_percent: {limit}}}
      feed: {{stale_after_seconds: 86400}}
"""


async def _stream(
    feed: FactFeed, stop: asyncio.Event, sent: list[int], marks: dict[int, asyncio.Event]
) -> None:
    """Snapshots 1.5 % below the start, 10 ms apart, until `stop` (the load); `marks[n]`
    is set once n are sent."""
    n = 0
    while not stop.is_set():
        n += 1
        equity = 98_500 + (n % 2)  # each one moves equity: each one is decided
        at = T0 + timedelta(seconds=n)
        sent.append(await feed.snapshot("rl-1", 100_000, equity, at=at))
        if len(sent) in marks:
            marks[len(sent)].set()
        await asyncio.sleep(0.01)


async def test_reload_tightens_a_limit_under_load_and_refuses_an_invalid_config(
    engine_bus: tuple[str, Client, FactFeed], tmp_path: Path
) -> None:
    url, nc, feed = engine_bus
    path = write_config(tmp_path, ACCOUNT.format(limit=5))
    async with running_engine(url, load(path)) as process:
        first = await feed.snapshot("rl-1", 100_000, 100_000, at=T0)
        await settled(process, first)
        stop, sent = asyncio.Event(), list[int]()
        marks = {20: asyncio.Event(), 60: asyncio.Event()}
        load_task = asyncio.create_task(_stream(feed, stop, sent, marks))
        try:
            await asyncio.wait_for(marks[20].wait(), 10)
            path.write_text(path.read_text().replace("limit_percent: 5", "limit_percent: 1"))
            done = await asyncio.to_thread(mtq, "reload", "--nats-url", url)
            assert done.returncode == 0, done.stdout + done.stderr
            assert "engine: limits changed on rl-1" in done.stdout, done.stdout
            await asyncio.wait_for(marks[60].wait(), 10)
            good = path.read_text()
            path.write_text(good.replace("limit_percent: 1", "limit_percent: -3"))
            refused = await asyncio.to_thread(mtq, "reload", "--nats-url", url)
        finally:
            stop.set()
            await load_task
        await settled(process, sent[-1])
        rules_after = process.engine.decider.accounts["rl-1"].rules
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "config rejected, the running one is kept" in refused.stderr, refused.stderr
    assert "engine.yaml:" in refused.stderr
    assert "limit_percent" in refused.stderr
    assert str(rules_after.daily_loss.limit_percent) == "1.0"
    decisions = read_decisions(url)
    (changed,) = [d.body for d in decisions if d.type == "LimitsChanged"]
    assert changed["actor"] == "anonymous"
    assert changed["rules"]["daily_loss"]["limit_percent"] == "1.0"
    breaches = [d.body for d in decisions if d.type == "DrawdownBreached"]
    assert breaches, "the tightened limit was never applied"
    assert breaches[0]["rule"] == "daily"
    next_fact = min(s for s in sent if s > changed["seq"])
    assert breaches[0]["seq"] == next_fact  # the first fact after the reload: the new limit
    before = [d for d in decisions if d.body["seq"] <= changed["seq"]]
    assert not [d for d in before if d.type in ("DrawdownBreached", "LiquidationOrdered")]
    replayed = await run_verify(nc, open_store(url))  # the reload replays with its actor
    assert replayed.identical, replayed.summary()
