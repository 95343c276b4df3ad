"""A signal to a trade end to end (issue 17): the real engine over a real nats-server and a
real agent on a simulated terminal. An auto-approved signal is executed once with its
`mtq-<8 hex>` comment; a lost `order_send` answer is found by that comment, never sent
twice; a terminal that refuses (AutoTrading off, 10027; market closed, 10018) is answered and
recorded."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest
from nats.aio.client import Client

from agents.command_executor import order_comment
from agents.harness import simulator_account, start_agent
from agents.terminal.simulator import ManualClock
from agents.terminal.simulator.settings import FaultSpec
from bus import subjects
from bus.codec import encode
from bus.schemas.orders import SignalReply, SignalSubmit
from domain.signals import signal_command_id
from tests.integration.agent_support import simulator, until
from tests.integration.engine_support import FactFeed, load, read_decisions, running_engine

pytestmark = pytest.mark.nats

ACCOUNT = "sig-sim"
CONFIG = f"""\
accounts:
  - id: {ACCOUNT}
    symbols:
      - {{name: EURUSD, digits: 5, contract_size: 100000, max_spread_pips: 5}}
    risk:
      initial_capital: 100000
      feed: {{stale_after_seconds: 86400}}
strategies:
  - name: copier
    secret_env: MTQ_TEST_SIGNAL_SECRET
    accounts: [{ACCOUNT}]
    approval: auto
    sizing: {{fixed: 0.1}}
    expires_after_seconds: 600
"""
START = datetime.fromisoformat("2026-03-02T10:00:00+00:00").timestamp()  # a Monday
LOST_REPLY_AT_S, AUTOTRADING_OFF_AT_S, MARKET_CLOSED_AT_S = 100.0, 200.0, 300.0


def _mine(terminal: Any, signal_id: str) -> list[Any]:
    comment = order_comment(signal_command_id(signal_id, ACCOUNT))
    return [p for p in terminal.positions_get() or () if p.comment == comment]


def _answers(url: str, signal_id: str) -> list[dict[str, Any]]:
    command_id = signal_command_id(signal_id, ACCOUNT)
    return [
        d.body
        for d in read_decisions(url)
        if d.type == "CommandAnswered" and d.body["command_id"] == command_id
    ]


async def _signal(nc: Client, signal_id: str) -> SignalReply:
    submit = SignalSubmit(signal_id=signal_id, strategy="copier", symbol="EURUSD", side="buy")
    reply = await nc.request(subjects.orders_submit("admin"), encode(submit), timeout=10)
    assert not (reply.headers or {}).get("Nats-Service-Error-Code"), reply.data
    return msgspec.json.decode(reply.data, type=SignalReply)


async def test_signals_when_executed_lost_and_refused_then_each_order_once_and_answered(
    engine_bus: tuple[str, Client, FactFeed], tmp_path: Path
) -> None:
    url, nc, _ = engine_bus
    (tmp_path / "mtq.yaml").write_text(CONFIG)
    clock = ManualClock(START)
    terminal = simulator(
        clock=clock,
        initial_balance=100_000.0,
        faults=(
            FaultSpec(kind="order_send_lost_reply", start_s=LOST_REPLY_AT_S, duration_s=50),
            FaultSpec(kind="autotrading_disabled", start_s=AUTOTRADING_OFF_AT_S, duration_s=50),
            FaultSpec(kind="stale_feed", start_s=MARKET_CLOSED_AT_S, duration_s=50),
        ),
    )
    account = simulator_account(
        ACCOUNT,
        symbols=[{"name": "EURUSD", "digits": 5, "contract_size": 100000}],
        agent={"poll_interval_ms": 20, "heartbeat_interval_s": 0.2,
               "account_snapshot_interval_s": 0.2},
    )  # fmt: skip
    async with running_engine(url, load(tmp_path / "mtq.yaml")) as process:
        agent = start_agent(account, terminal, nats_url=url, data_dir=tmp_path / "agent")
        try:
            await until(lambda: process.orders_micro is not None, timeout=20)
            accounts = process.engine.decider.accounts

            async def seen_at(seconds: float) -> None:
                clock.set(START + seconds)
                await until(
                    lambda: (
                        ACCOUNT in accounts
                        and (latest := accounts[ACCOUNT].latest_snapshot_at) is not None
                        and latest.timestamp() >= START + seconds
                    ),
                    timeout=20,
                )

            await seen_at(1)
            first = await _signal(nc, "sig-1")
            assert [a.status for a in first.accounts] == ["sent"], first
            await until(lambda: len(_mine(terminal, "sig-1")) == 1, timeout=20)
            await until(lambda: _answers(url, "sig-1"), timeout=20)

            await seen_at(LOST_REPLY_AT_S + 1)  # order_send executes, then answers None
            await _signal(nc, "sig-2")
            await until(lambda: _answers(url, "sig-2"), timeout=30)

            await seen_at(AUTOTRADING_OFF_AT_S + 1)  # every order answers 10027
            await _signal(nc, "sig-3")
            await until(lambda: _answers(url, "sig-3"), timeout=30)

            await seen_at(MARKET_CLOSED_AT_S + 1)  # no quotes: orders answer 10018
            await _signal(nc, "sig-4")
            await until(lambda: _answers(url, "sig-4"), timeout=30)
            signals = ("sig-1", "sig-2", "sig-3", "sig-4")
            positions = {s: len(_mine(terminal, s)) for s in signals}
            sent = agent.agent.executor.sender
            lookups, found = sent.lookups, sent.found
        finally:
            await agent.close()
    assert positions == {"sig-1": 1, "sig-2": 1, "sig-3": 0, "sig-4": 0}
    assert lookups >= 1  # sig-2's lost answer was looked for ...
    assert found >= 1  # ... and found, not sent again
    (one,) = _answers(url, "sig-1")
    (two,) = _answers(url, "sig-2")
    (three,) = _answers(url, "sig-3")
    assert one["executed"]
    assert two["executed"]
    assert not three["executed"]
    assert three["detail"] == "AutoTrading disabled by client"  # 10027, as the terminal says
    (four,) = _answers(url, "sig-4")
    assert not four["executed"]
    assert four["detail"] == "Market closed"  # 10018
    types = [d.type for d in read_decisions(url) if d.body.get("signal_id") == "sig-1"]
    assert types[:3] == ["SignalReceived", "SignalSized", "Approved"]
    assert "OrderPlaced" in types
