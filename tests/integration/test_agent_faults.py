"""Terminal faults open the breaker; heartbeats show it; the agent recovers by itself."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg

from agents.harness import simulator_account, start_agent
from agents.terminal.simulator.settings import FaultSpec
from bus import subjects
from bus.codec import decode_fact
from bus.schemas import AgentHeartbeat
from bus.topology import ensure_topology
from tests.integration.agent_support import simulator, until

pytestmark = [pytest.mark.nats]


@pytest.mark.parametrize("kind", ["ipc_error", "disconnect", "ipc_timeout"])
async def test_breaker_when_terminal_faults_then_opens_and_recovers(
    kind: str, nc: Client, nats_url: str, tmp_path: Path
) -> None:
    await ensure_topology(nc.jetstream())
    account_id = f"fault-{uuid.uuid4().hex[:8]}"
    terminal = simulator(faults=(FaultSpec(kind, start_s=0.6, duration_s=1.2),),  # type: ignore[arg-type]
                         tick_interval_ms=50)  # fmt: skip
    account = simulator_account(
        account_id,
        agent={"poll_interval_ms": 20, "heartbeat_interval_s": 0.1,
               "breaker": {"failure_threshold": 3, "recovery_seconds": 0.3},
               "reconnect": {"initial_delay_s": 0.05, "max_delay_s": 0.2}},
    )  # fmt: skip
    beats: list[AgentHeartbeat] = []

    async def on_beat(msg: Msg) -> None:
        fact = decode_fact(msg.subject, msg.data)
        assert isinstance(fact, AgentHeartbeat)
        beats.append(fact)

    sub = await nc.subscribe(subjects.health(account_id), cb=on_beat)
    running = start_agent(account, terminal, nats_url=nats_url, data_dir=tmp_path)
    try:
        await until(
            lambda: any(b.breaker_state == "open" and not b.terminal_connected for b in beats),
            timeout=10, message="a heartbeat with the breaker open",
        )  # fmt: skip
        opened_at = next(i for i, b in enumerate(beats) if b.breaker_state == "open")
        assert any("-1000" in b.last_error for b in beats[opened_at:])
        await until(
            lambda: any(b.breaker_state == "closed" and b.terminal_connected
                        for b in beats[opened_at:]),
            timeout=10, message="breaker closed again after the fault",
        )  # fmt: skip
        ticks_before = running.agent.publisher.stats.published
        await until(lambda: running.agent.publisher.stats.published > ticks_before + 5)
        assert not running.task.done()
        assert running.agent.session.breaker.times_opened >= 1
    finally:
        await running.close()
        await sub.unsubscribe()
    await asyncio.sleep(0)
