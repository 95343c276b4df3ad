"""PlaceOrder through a real agent process: killed between the order and its answer, the
restarted agent answers from what the terminal shows and sends nothing again."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from nats.aio.client import Client

from agents.harness import simulator_account, start_agent
from agents.order_requests import order_comment
from agents.terminal.factory import simulator_world_path
from agents.terminal.simulator.settings import FaultSpec
from bus import subjects
from bus.codec import encode
from bus.schemas import OrderExecuted, OrderRejected, PlaceOrder
from bus.topology import ensure_topology
from tests.integration.agent_support import decoded, read_subject, simulator, until

pytestmark = [pytest.mark.nats]

CONFIG = """
accounts:
  - id: {account}
    terminal:
      kind: simulator
      simulator:
        seed: 11
        tick_interval_ms: 50
        faults: [{{kind: order_send_hang, start_s: 0, duration_s: 86400, hang_s: 120}}]
    agent: {{poll_interval_ms: 25, heartbeat_interval_s: 0.2}}
    symbols: [{{name: EURUSD}}]
"""


def _start(config: Path, account: str, nats_url: str, data: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "mtq", "agent", "run", "--account", account,
         "--config", str(config), "--nats-url", nats_url, "--data", str(data)],
        stdout=subprocess.DEVNULL, stderr=(data.parent / "agent.log").open("ab"),
    )  # fmt: skip


def _orders_in_journal(path: Path, comment: str) -> int:
    """How many `order_send` calls that traded carry `comment` in the simulator's journal."""
    if not path.is_file():
        return 0
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()[1:]]
    return sum(1 for entry in lines if entry.get("order", {}).get("comment") == comment)


async def test_place_order_when_answer_lost_over_nats_then_one_position_and_one_answer(
    nc: Client, nats_url: str, tmp_path: Path
) -> None:
    await ensure_topology(nc.jetstream())
    account = f"lost-{uuid.uuid4().hex[:8]}"
    lost = FaultSpec("order_send_lost_reply", start_s=0.0, duration_s=86_400.0)
    terminal = simulator(faults=(lost,))
    running = start_agent(simulator_account(account), terminal, nats_url=nats_url,
                          data_dir=tmp_path)  # fmt: skip
    command_id = uuid.uuid4().hex
    try:
        command = PlaceOrder(command_id=command_id, account_id=account, symbol="EURUSD",
                             side="sell", volume=0.3, deviation_points=10)  # fmt: skip
        for _ in range(2):  # a re-sent command is not executed again either
            await nc.jetstream().publish(subjects.command(account, "place_order"),
                                         encode(command))  # fmt: skip

        async def answered() -> list[OrderExecuted | OrderRejected]:
            facts = decoded(await read_subject(nc, f"mt5.{account}.order.*", idle=0.3))
            found = [f for f in facts if isinstance(f, OrderExecuted | OrderRejected)]
            assert found
            return found

        (result,) = await until(answered, timeout=15)
        assert isinstance(result, OrderExecuted), result
        await until(lambda: running.agent.executor.duplicates == 1, timeout=10)
        (position,) = terminal.positions_get() or ()
        assert position.comment == order_comment(command_id)
        assert (result.position, result.volume) == (position.identifier, 0.3)
        deals = [d for d in terminal.deals if d.comment == order_comment(command_id)]
        assert len(deals) == 1
    finally:
        await running.close()


@pytest.mark.slow
async def test_place_order_when_agent_sigkilled_between_send_and_answer_then_no_second_order(
    nc: Client, nats_url: str, tmp_path: Path
) -> None:
    await ensure_topology(nc.jetstream())
    account = f"ord-{uuid.uuid4().hex[:8]}"
    config = tmp_path / "mtq.yaml"
    config.write_text(CONFIG.format(account=account), encoding="utf-8")
    data = tmp_path / "data"
    journal = simulator_world_path(data, account)
    command_id = uuid.uuid4().hex
    comment = order_comment(command_id)
    command = PlaceOrder(command_id=command_id, account_id=account, symbol="EURUSD",
                         side="buy", volume=0.1)  # fmt: skip

    proc = _start(config, account, nats_url, data)
    try:
        await nc.jetstream().publish(
            subjects.command(account, "place_order"), encode(command),
            headers={"Nats-Msg-Id": command_id},
        )  # fmt: skip
        # The simulator executed it (journaled) and now blocks before answering.
        await until(lambda: _orders_in_journal(journal, comment) == 1, timeout=20)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=5)
        assert decoded(await read_subject(nc, f"mt5.{account}.order.*", idle=0.3)) == []

        proc = _start(config, account, nats_url, data)

        async def answer() -> OrderExecuted | OrderRejected:
            facts = decoded(await read_subject(nc, f"mt5.{account}.order.*", idle=0.3))
            found = [f for f in facts if isinstance(f, OrderExecuted | OrderRejected)]
            assert found
            return found[0]

        result = await until(answer, timeout=30)
        assert isinstance(result, OrderExecuted), result
        assert result.command_id == command_id
        assert result.position is not None
        assert result.deal is not None
        assert result.volume == 0.1
        # The order would hang again if sent again: the journal shows it once.
        assert _orders_in_journal(journal, comment) == 1
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert len(decoded(await read_subject(nc, f"mt5.{account}.order.*", idle=0.3))) == 1
    text = (tmp_path / "agent.log").read_text(errors="replace")
    assert "interrupted by a restart: looking it up" in text, text[-3000:]
