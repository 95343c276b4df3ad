"""An agent that dies and comes back: no duplicate position facts, no missed close."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from pathlib import Path

import pytest
from nats.aio.client import Client

from agents.harness import simulator_account, start_agent
from agents.outbox import Outbox, OutgoingFact
from agents.store import db_path, open_store
from agents.terminal.mt5 import constants as c
from bus.schemas import PositionClosed, PositionModified, PositionOpened
from bus.schemas.base import Message
from bus.topology import ensure_topology
from tests.integration.agent_support import decoded, read_subject, simulator, until

pytestmark = [pytest.mark.nats]


def _position_facts(facts: list[Message]) -> Counter[tuple[str, int]]:
    return Counter(
        (type(f).__name__, f.ticket)
        for f in facts
        if isinstance(f, PositionOpened | PositionModified | PositionClosed)
    )


async def test_agent_when_killed_and_restarted_then_no_duplicates_and_close_seen(
    nc: Client, nats_url: str, tmp_path: Path
) -> None:
    await ensure_topology(nc.jetstream())
    account_id = f"crash-{uuid.uuid4().hex[:8]}"
    account = simulator_account(account_id)
    terminal = simulator()
    a, b, keep = (terminal.open_position("EURUSD", c.ORDER_TYPE_BUY, 0.1).ticket for _ in range(3))

    async def position_facts() -> Counter[tuple[str, int]]:
        return _position_facts(decoded(await read_subject(nc, f"mt5.{account_id}.position.*",
                                                          idle=0.3)))  # fmt: skip

    first = start_agent(account, terminal, nats_url=nats_url, data_dir=tmp_path)
    await until(lambda: first.agent.known.keys() == {a, b, keep} and not first.agent.outbox)
    await until(position_facts)
    first.agent.kill(first.stop)
    await asyncio.gather(first.task, return_exceptions=True)

    # While the agent is down: a closes, b gets a stop loss, d opens.
    tick = terminal.symbol_info_tick("EURUSD")
    assert tick is not None
    closed = terminal.order_send({"action": c.TRADE_ACTION_DEAL, "symbol": "EURUSD",
                                  "volume": 0.1, "type": c.ORDER_TYPE_SELL, "position": a,
                                  "price": tick.bid, "deviation": 50})  # fmt: skip
    assert closed is not None
    assert closed.retcode == c.TRADE_RETCODE_DONE
    modified = terminal.order_send({"action": c.TRADE_ACTION_SLTP, "symbol": "EURUSD",
                                    "position": b, "sl": round(tick.bid - 0.005, 5)})  # fmt: skip
    assert modified is not None
    assert modified.retcode == c.TRADE_RETCODE_DONE
    d = terminal.open_position("EURUSD", c.ORDER_TYPE_SELL, 0.2).ticket

    second = start_agent(account, terminal, nats_url=nats_url, data_dir=tmp_path)
    try:
        expected = {
            ("PositionOpened", a): 1, ("PositionOpened", b): 1, ("PositionOpened", keep): 1,
            ("PositionClosed", a): 1, ("PositionModified", b): 1, ("PositionOpened", d): 1,
        }  # fmt: skip
        assert await until(lambda: _equal(position_facts(), expected), timeout=10)
        facts = decoded(await read_subject(nc, f"mt5.{account_id}.position.closed", idle=0.3))
        close = facts[0]
        assert isinstance(close, PositionClosed)
        assert close.close_price == closed.price
        assert close.deal_ticket == closed.deal
        assert close.deal_reason == "expert"
        # The restarted agent re-sent nothing the stream already had.
        stats = second.agent.publisher.stats
        assert (stats.duplicates, stats.last_duplicate) == (0, "")
    finally:
        await second.close()


async def test_agent_when_restarted_with_published_facts_still_in_outbox_then_resends_counted(
    nc: Client, nats_url: str, tmp_path: Path
) -> None:
    """A crash between JetStream's ack and the outbox delete: the facts go again, JetStream
    drops them as duplicates, and the publisher counts exactly those re-sends."""
    await ensure_topology(nc.jetstream())
    account_id = f"resend-{uuid.uuid4().hex[:8]}"
    account = simulator_account(account_id)
    terminal = simulator()
    tickets = {terminal.open_position("EURUSD", c.ORDER_TYPE_BUY, 0.1).ticket for _ in range(3)}
    first = start_agent(account, terminal, nats_url=nats_url, data_dir=tmp_path)
    await until(lambda: first.agent.known.keys() == tickets and not first.agent.outbox)
    assert first.agent.publisher.stats.duplicates == 0
    await first.close()
    stored = await read_subject(nc, f"mt5.{account_id}.position.opened", idle=0.3)
    assert len(stored) == 3
    conn = open_store(db_path(tmp_path, account_id))
    Outbox(conn).append(
        OutgoingFact(m.subject, m.headers["Nats-Msg-Id"], m.data) for m in stored if m.headers
    )
    conn.close()

    second = start_agent(account, terminal, nats_url=nats_url, data_dir=tmp_path)
    try:
        await until(lambda: second.agent.outbox_drained_after(3))
        assert second.agent.publisher.stats.duplicates == 3
        again = await read_subject(nc, f"mt5.{account_id}.position.opened", idle=0.3)
        assert len(again) == 3
    finally:
        await second.close()


async def _equal(
    got: asyncio.Future[Counter[tuple[str, int]]] | object, expected: dict[tuple[str, int], int]
) -> bool:
    value = await got  # type: ignore[misc]
    assert dict(value) == expected
    return True
