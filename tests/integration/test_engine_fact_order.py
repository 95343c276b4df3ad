"""Snapshot order, currency and staleness over a real nats-server, across an engine restart
(issue 16)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client

from bus import subjects
from tests.integration.engine_support import (
    T0,
    FactFeed,
    load,
    read_decisions,
    running_engine,
    settled,
    stream_messages,
    write_config,
)
from tests.support import eventually

pytestmark = pytest.mark.nats

ACCOUNT = """\
  - id: ftmo-1
    risk:
      initial_capital: 100000
      daily_loss: {limit_percent: 5, anchor: balance, timezone: Europe/Prague}
      max_loss: {kind: static, limit_percent: 10}
"""


async def _dead(nc: Client, count: int) -> list[tuple[str, dict[str, Any], dict[str, str]]] | None:
    found = await stream_messages(nc.jetstream(), subjects.STREAM_DLQ)
    return found if len(found) >= count else None


def _at(clock: str) -> Any:
    hours, minutes, seconds = (int(p) for p in clock.split(":"))
    return T0.replace(hour=hours, minute=minutes, second=seconds)


async def test_snapshot_earlier_than_last_observed_when_engine_restarted_then_dead_lettered(
    engine_bus: tuple[str, Client, FactFeed], tmp_path: Path
) -> None:
    """The issue's example: 10:00:50 after 10:01:40 decides nothing, even after a restart."""
    url, nc, feed = engine_bus
    config = load(write_config(tmp_path, ACCOUNT))
    async with running_engine(url, config) as process:
        await feed.snapshot("ftmo-1", 100_000, 100_000, at=_at("10:00:00"))
        # equity moved less than the recording step: observed, not recorded
        observed = await feed.snapshot("ftmo-1", 100_000, 100_000.5, at=_at("10:01:40"))
        await settled(process, observed)
        recorded_times = [
            d.body["timestamp"] for d in read_decisions(url) if d.type == "AccountStateRecorded"
        ]
        assert len(recorded_times) == 1  # the engine's position is past the unrecorded one
        assert process.engine.pipeline.committed_seq >= observed
    before = read_decisions(url)
    async with running_engine(url, config) as process:
        late = await feed.snapshot("ftmo-1", 100_000, 94_000, at=_at("10:00:50"))
        dead = await eventually(lambda: _dead(nc, 1), message="the late snapshot dead-lettered")
        assert process.engine.stats.rejected == 1
        reason = dead[0][2]["Mtq-Error"]
        assert "FactOutOfOrder" in reason
        assert "observed at 2026-03-02T10:01:40" in reason
        after_late = await feed.snapshot("ftmo-1", 100_000, 100_000, at=_at("10:02:00"))
        await settled(process, after_late)
    decisions = read_decisions(url)
    assert all(d.body["seq"] != late for d in decisions)
    assert not any(d.type == "DrawdownBreached" for d in decisions)
    assert decisions[: len(before)] == before


async def test_snapshot_in_another_currency_when_decided_then_dead_lettered_naming_both(
    engine_bus: tuple[str, Client, FactFeed], tmp_path: Path
) -> None:
    url, nc, feed = engine_bus
    config = load(write_config(tmp_path, ACCOUNT))
    async with running_engine(url, config) as process:
        await settled(process, await feed.snapshot("ftmo-1", 100_000, 100_000))
        before = len(read_decisions(url))
        odd = await feed.snapshot(
            "ftmo-1", 100_000, 90_000, at=feed.now + timedelta(seconds=5), currency="EUR"
        )
        dead = await eventually(lambda: _dead(nc, 1), message="the EUR snapshot dead-lettered")
        reason = dead[0][2]["Mtq-Error"]
        assert "currency 'EUR' differs from the account's 'USD'" in reason
        last = await feed.snapshot("ftmo-1", 100_000, 100_000, at=feed.now + timedelta(seconds=9))
        await settled(process, last)
    decisions = read_decisions(url)
    assert all(d.body["seq"] != odd for d in decisions)
    assert len(decisions) == before


async def test_heartbeats_when_no_snapshot_for_30s_with_positions_then_feed_stale_recorded(
    engine_bus: tuple[str, Client, FactFeed], tmp_path: Path
) -> None:
    url, _, feed = engine_bus
    config = load(write_config(tmp_path, ACCOUNT))
    async with running_engine(url, config) as process:
        await feed.snapshot("ftmo-1", 100_000, 100_000, at=_at("10:00:00"))
        await feed.opened("ftmo-1", 5, at=_at("10:00:01"))
        await feed.heartbeat("ftmo-1", _at("10:00:20"))
        stale = await feed.heartbeat("ftmo-1", _at("10:00:31"))
        await feed.heartbeat("ftmo-1", _at("10:00:40"))
        back = await feed.snapshot("ftmo-1", 100_000, 100_000, at=_at("10:00:45"))
        await settled(process, back)
    decisions = read_decisions(url)
    (recorded,) = [d.body for d in decisions if d.type == "FeedStale"]
    assert recorded["seq"] == stale
    (restored,) = [d.body for d in decisions if d.type == "FeedRestored"]
    assert restored["seq"] == back


async def test_snapshot_stamped_ahead_of_the_bus_when_decided_then_dead_lettered(
    engine_bus: tuple[str, Client, FactFeed], tmp_path: Path
) -> None:
    """Issue 21 item 10: a clock running ahead would start the trading day early. The
    reference is the time JetStream stored the fact, which a replay reads back alike."""
    url, nc, feed = engine_bus
    config = load(write_config(tmp_path, ACCOUNT))
    now = datetime.now(UTC).replace(microsecond=0)
    async with running_engine(url, config) as process:
        await settled(process, await feed.snapshot("ftmo-1", 100_000, 100_000, at=now))
        before = read_decisions(url)
        ahead = await feed.snapshot("ftmo-1", 100_000, 94_000, at=now + timedelta(hours=3))
        dead = await eventually(lambda: _dead(nc, 1), message="the snapshot from ahead")
        reason = dead[0][2]["Mtq-Error"]
        assert "ahead of when the bus stored the fact" in reason
        assert "feed.max_clock_skew_seconds 120" in reason
        within = await feed.snapshot("ftmo-1", 100_000, 99_000, at=now + timedelta(seconds=30))
        await settled(process, within)
    decisions = read_decisions(url)
    assert all(d.body["seq"] != ahead for d in decisions)
    assert not any(d.type == "DrawdownBreached" for d in decisions)
    assert any(d.body["seq"] == within for d in decisions[len(before) :])
