"""A real agent process as its own identity on a secured server (issue 21 items 1 and 5): it
publishes, consumes its commands and checks its orders on `mtq.risk.check.<account>`
without stream info (which it may no longer read) and without a permission error."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from nats.aio.client import Client

from bus.connection import ConnectSettings, connect
from bus.schemas import AgentHeartbeat, TickReceived
from bus.topology import ensure_topology
from tests.integration.agent_support import decoded, read_subject, until
from tests.integration.engine_support import load, read_decisions, running_engine, write_config
from tests.integration.secured_support import Secured, secured_server

pytestmark = [pytest.mark.nats, pytest.mark.slow]

ACCOUNT = "ident-a"
CONFIG = f"""\
  - id: {ACCOUNT}
    terminal:
      kind: simulator
      simulator:
        seed: 5
        tick_interval_ms: 50
        strategy: {{kind: random, open_probability: 0.5, close_probability: 0.05,
                    max_positions: 3, sl_pips: 5, magic: 4242, risk_check: true}}
    agent: {{poll_interval_ms: 25, heartbeat_interval_s: 0.2}}
    symbols: [{{name: EURUSD}}]
    risk: {{initial_capital: 10000, daily_loss: {{limit_percent: 50}}}}
"""


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    with secured_server(tmp_path_factory.mktemp("agent-identity"), [ACCOUNT]) as running:
        yield running


@pytest.fixture(scope="module")
async def admin(secured: Secured) -> AsyncIterator[Client]:
    nc = await connect(ConnectSettings(url=secured.url, creds_file=str(secured.auth.admin_creds)))
    await ensure_topology(nc.jetstream())
    try:
        yield nc
    finally:
        await nc.close()


def _agent(secured: Secured, config: Path, data: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NATS_")}
    env["NATS_CREDS"] = str(secured.auth.agent_creds(ACCOUNT))
    return subprocess.Popen(
        [sys.executable, "-m", "mtq", "agent", "run", "--account", ACCOUNT,
         "--config", str(config), "--nats-url", secured.url, "--data", str(data)],
        stdout=subprocess.DEVNULL, stderr=(data.parent / "agent.log").open("ab"), env=env,
    )  # fmt: skip


async def test_agent_when_run_as_its_identity_then_publishes_consumes_and_checks_its_own(
    secured: Secured, admin: Client, tmp_path: Path
) -> None:
    config_path = write_config(tmp_path, CONFIG)
    config = load(config_path)
    async with running_engine(secured.url, config, auth=secured.client_auth("engine")):
        proc = _agent(secured, config_path, tmp_path / "data")
        try:

            async def published() -> bool:
                facts = decoded(await read_subject(admin, f"mt5.{ACCOUNT}.tick.*", idle=0.3))
                facts += decoded(await read_subject(admin, f"mt5.{ACCOUNT}.health", idle=0.3))
                assert any(isinstance(f, TickReceived) for f in facts)
                assert any(isinstance(f, AgentHeartbeat) and f.pid == proc.pid for f in facts)
                return True

            await until(published, timeout=20)

            async def checked() -> bool:
                found = await asyncio.to_thread(
                    read_decisions, secured.url, secured.client_auth("admin")
                )
                checks = [d for d in found if d.type in ("OrderApproved", "OrderDenied")]
                assert checks, "no check of the agent's orders recorded yet"
                assert {d.account_id for d in checks} == {ACCOUNT}
                return True

            await until(checked, timeout=30)
            durable = await admin.jetstream().consumer_info("CMD", f"agent-{ACCOUNT}")
            assert durable.config.filter_subject == f"cmd.{ACCOUNT}.>"
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=15) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    text = (tmp_path / "agent.log").read_text(errors="replace")
    assert "ermissions violation" not in text.lower(), text[-3000:]
    assert "could not provision" not in text, text[-3000:]
    # A check may go unanswered on a loaded machine, or meet an engine still starting (503);
    # the agent then sends nothing, as it should, and that checks were answered is shown
    # above. Any other refusal would be a binding fault.
    refusals = [line for line in text.splitlines() if " refused: " in line]
    assert all('"code":503' in line for line in refusals), refusals
