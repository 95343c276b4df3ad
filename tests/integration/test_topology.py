from __future__ import annotations

import pytest
from nats.aio.client import Client
from nats.js import api

from bus import subjects
from bus.topology import TopologyConflict, TopologySettings, ensure_topology

pytestmark = pytest.mark.nats

ALL = ["MT5_TICKS", "MT5", "RISK", "CMD", "DLQ", "KV_mtq_status"]


async def test_ensure_topology_when_run_twice_then_second_changes_nothing(
    fresh_nats_server: object, nats_client_fresh: Client
) -> None:
    js = nats_client_fresh.jetstream()
    first = await ensure_topology(js)
    assert sorted(first.created) == sorted(ALL)
    second = await ensure_topology(js)
    assert not second.changed
    assert sorted(second.unchanged) == sorted(ALL)

    risk = await js.stream_info(subjects.STREAM_RISK)
    assert risk.config.deny_delete
    assert risk.config.deny_purge
    assert risk.config.allow_atomic
    cmd = await js.stream_info(subjects.STREAM_CMD)
    assert cmd.config.retention == api.RetentionPolicy.WORK_QUEUE
    ticks = await js.stream_info(subjects.STREAM_TICKS)
    assert ticks.config.max_age == pytest.approx(24 * 3600)
    kv = await js.key_value(subjects.KV_STATUS)
    await kv.put("acc-1", b"{}")
    assert (await kv.get("acc-1")).value == b"{}"


async def test_ensure_topology_when_owned_setting_changes_then_stream_updated(
    fresh_nats_server: object, nats_client_fresh: Client
) -> None:
    js = nats_client_fresh.jetstream()
    await ensure_topology(js)
    report = await ensure_topology(js, TopologySettings(ticks_max_age_s=3600))
    assert report.updated == [subjects.STREAM_TICKS]
    ticks = await js.stream_info(subjects.STREAM_TICKS)
    assert ticks.config.max_age == pytest.approx(3600)


async def test_ensure_topology_when_stream_conflicts_then_reported_and_left_alone(
    fresh_nats_server: object, nats_client_fresh: Client
) -> None:
    js = nats_client_fresh.jetstream()
    await js.add_stream(name="CMD", subjects=["cmd.*.>"], retention=api.RetentionPolicy.LIMITS)
    await js.publish("cmd.acc-1.close_all", b"keep me")
    with pytest.raises(TopologyConflict) as info:
        await ensure_topology(js)
    text = str(info.value)
    assert "stream CMD" in text
    assert "retention" in text
    assert "left untouched" in text
    cmd = await js.stream_info("CMD")
    assert cmd.config.retention == api.RetentionPolicy.LIMITS
    assert cmd.state.messages == 1


async def test_ensure_topology_when_created_then_facts_dedupe_outlasts_agent_restart_backoff(
    fresh_nats_server: object, nats_client_fresh: Client
) -> None:
    js = nats_client_fresh.jetstream()
    await ensure_topology(js)
    facts = await js.stream_info(subjects.STREAM_FACTS)
    assert facts.config.duplicate_window == pytest.approx(3600)
    first = await js.publish("mt5.acc-1.account", b"{}", headers={"Nats-Msg-Id": "acc-1:x:1"})
    again = await js.publish("mt5.acc-1.account", b"{}", headers={"Nats-Msg-Id": "acc-1:x:1"})
    assert again.duplicate
    assert again.seq == first.seq


async def test_ensure_topology_when_created_then_ticks_in_memory_and_facts_on_file(
    fresh_nats_server: object, nats_client_fresh: Client
) -> None:
    js = nats_client_fresh.jetstream()
    await ensure_topology(js)
    ticks = await js.stream_info(subjects.STREAM_TICKS)
    assert ticks.config.storage == api.StorageType.MEMORY
    for name in (subjects.STREAM_FACTS, subjects.STREAM_RISK, subjects.STREAM_CMD):
        assert (await js.stream_info(name)).config.storage == api.StorageType.FILE


async def test_ensure_topology_when_ticks_stream_on_file_then_recreated_in_memory(
    fresh_nats_server: object, nats_client_fresh: Client
) -> None:
    js = nats_client_fresh.jetstream()
    await js.add_stream(
        name=subjects.STREAM_TICKS,
        subjects=list(subjects.TICKS_SUBJECTS),
        storage=api.StorageType.FILE,
    )
    await js.publish("mt5.acc-1.tick.EURUSD", b"{}")
    report = await ensure_topology(js)
    assert report.recreated == [subjects.STREAM_TICKS]
    ticks = await js.stream_info(subjects.STREAM_TICKS)
    assert ticks.config.storage == api.StorageType.MEMORY
    assert ticks.state.messages == 0  # market data: the terminal can give it again
