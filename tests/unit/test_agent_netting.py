"""The agent on netting and hedging accounts (the simulator in both margin modes), no NATS:
a netting reversal is one PositionModified naming side and volume, never a close/open pair;
closes are opposite deals of the position's volume in both modes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agents.facts import close_from_deals
from agents.terminal.mt5 import constants as c
from agents.terminal.simulator import events as sim_events
from bus.schemas import (
    CloseAll,
    ClosePosition,
    OrderExecuted,
    PositionClosed,
    PositionModified,
    PositionOpened,
)
from tests.unit.test_agent_support import Rig, utc

MODES = ("hedging", "netting")


def _rig(tmp: Path, mode: str) -> Rig:
    return Rig(tmp, utc("2026-01-06T10:00:00"), ("EURUSD", "GBPUSD"), margin_mode=mode)


@pytest.fixture
def netting(tmp_path: Path) -> Iterator[Rig]:
    made = _rig(tmp_path, "netting")
    yield made
    made.close()


@pytest.fixture(params=MODES)
def either(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Rig]:
    made = _rig(tmp_path, request.param)
    yield made
    made.close()


def _sends(rig: Rig) -> list[sim_events.OrderHandled]:
    return [e for e in rig.sim.history if isinstance(e, sim_events.OrderHandled)]


async def test_positions_when_netting_deal_reverses_then_one_modified_naming_side_and_volume(
    netting: Rig,
) -> None:
    rig = netting
    first = rig.sim.open_position("EURUSD", c.POSITION_TYPE_BUY, 1.0)
    await rig.poll(0.5)
    reversed_ = rig.sim.open_position("EURUSD", c.POSITION_TYPE_SELL, 1.5)
    await rig.poll(0.5)
    await rig.poll(0.5)
    assert [f.identifier for f in rig.of(PositionOpened)] == [first.identifier]
    assert rig.of(PositionClosed) == []
    (modified,) = rig.of(PositionModified)
    assert modified.changed == ("ticket", "side", "volume")
    assert (modified.identifier, modified.ticket) == (first.identifier, reversed_.ticket)
    assert (modified.side, modified.volume) == ("sell", 0.5)


async def test_positions_when_netting_deal_adds_or_reduces_then_modified_volume(
    netting: Rig,
) -> None:
    rig = netting
    first = rig.sim.open_position("EURUSD", c.POSITION_TYPE_BUY, 1.0)
    await rig.poll(0.5)
    rig.sim.open_position("EURUSD", c.POSITION_TYPE_BUY, 0.5)
    await rig.poll(0.5)
    rig.sim.open_position("EURUSD", c.POSITION_TYPE_SELL, 1.2)
    await rig.poll(0.5)
    changes = [(m.ticket, m.side, m.volume, m.changed) for m in rig.of(PositionModified)]
    assert changes == [
        (first.ticket, "buy", 1.5, ("volume",)),
        (first.ticket, "buy", 0.3, ("volume",)),
    ]
    assert rig.of(PositionClosed) == []


async def test_positions_when_hedging_opposite_deal_then_second_position_opened(
    tmp_path: Path,
) -> None:
    rig = _rig(tmp_path, "hedging")
    try:
        rig.sim.open_position("EURUSD", c.POSITION_TYPE_BUY, 1.0)
        await rig.poll(0.5)
        rig.sim.open_position("EURUSD", c.POSITION_TYPE_SELL, 1.5)
        await rig.poll(0.5)
        assert [(f.side, f.volume) for f in rig.of(PositionOpened)] == [("buy", 1.0), ("sell", 1.5)]
        assert rig.of(PositionModified) == []
    finally:
        rig.close()


async def test_close_when_either_mode_then_opposite_deal_of_position_volume_and_closed_fact(
    either: Rig,
) -> None:
    rig = either
    ticket = rig.sim.open_position("EURUSD", c.POSITION_TYPE_SELL, 0.7).ticket
    await rig.poll(0.5)
    await rig.agent.executor.handle(
        ClosePosition(command_id="close-either", account_id="rules", ticket=ticket)
    )
    (result,) = rig.of(OrderExecuted)
    assert (result.ticket, result.retcode, result.volume) == (ticket, c.TRADE_RETCODE_DONE, 0.7)
    (sent,) = _sends(rig)
    assert (sent.request["type"], sent.request["volume"]) == (c.ORDER_TYPE_BUY, 0.7)
    assert rig.sim.positions_get() == ()
    await rig.poll(0.5)
    (closed,) = rig.of(PositionClosed)
    assert (closed.identifier, closed.deal_reason) == (ticket, "expert")


async def test_close_when_netting_position_reversed_then_old_ticket_closes_the_new_side(
    netting: Rig,
) -> None:
    rig = netting
    first = rig.sim.open_position("EURUSD", c.POSITION_TYPE_BUY, 1.0)
    await rig.poll(0.5)
    rig.sim.set_price("EURUSD", first.price_open + 0.0030)
    now = rig.sim.open_position("EURUSD", c.POSITION_TYPE_SELL, 1.4)
    await rig.poll(0.5)
    # The risk engine still knows the first ticket: the close finds the position by identifier
    # and buys back the 0.4 lots of the sell side it is now.
    await rig.agent.executor.handle(
        ClosePosition(command_id="close-rev", account_id="rules", ticket=first.ticket)
    )
    (result,) = rig.of(OrderExecuted)
    assert (result.ticket, result.volume) == (now.ticket, 0.4)
    (sent,) = _sends(rig)
    assert (sent.request["type"], sent.request["volume"]) == (c.ORDER_TYPE_BUY, 0.4)
    assert rig.sim.positions_get() == ()
    await rig.poll(0.5)
    (closed,) = rig.of(PositionClosed)
    deals = rig.sim.history_deals_get(position=first.identifier) or ()
    entries = [d.entry for d in deals]
    assert entries == [c.DEAL_ENTRY_IN, c.DEAL_ENTRY_INOUT, c.DEAL_ENTRY_OUT]
    realized = round(sum(d.profit + d.commission + d.swap + d.fee for d in deals), 2)
    assert closed.profit == realized  # the reversal's realized 300 included
    assert deals[1].profit == 300.0
    assert (closed.identifier, closed.side, closed.deal_ticket) == (
        first.identifier,
        "sell",
        deals[-1].ticket,
    )


async def test_close_all_when_either_mode_then_every_position_closed(either: Rig) -> None:
    rig = either
    rig.sim.open_position("EURUSD", c.POSITION_TYPE_BUY, 0.3)
    rig.sim.open_position("GBPUSD", c.POSITION_TYPE_SELL, 0.2)
    await rig.poll(0.5)
    await rig.agent.executor.handle(CloseAll(command_id="all", account_id="rules"))
    results = rig.of(OrderExecuted)
    assert sorted(r.volume or 0.0 for r in results) == [0.2, 0.3]
    assert rig.sim.positions_get() == ()


def test_close_from_deals_when_newest_deal_is_a_reversal_then_not_closed() -> None:
    from agents.terminal.mt5.structures import TradeDeal

    def deal(ticket: int, entry: int, profit: float) -> TradeDeal:
        fields: dict[str, Any] = dict.fromkeys(TradeDeal._fields, 0)
        fields.update(ticket=ticket, time_msc=ticket, position_id=1, entry=entry, price=1.1,
                      profit=profit, symbol="EURUSD", comment="", external_id="")  # fmt: skip
        return TradeDeal(**fields)

    opened, turned = deal(1, c.DEAL_ENTRY_IN, 0.0), deal(2, c.DEAL_ENTRY_INOUT, 30.0)
    assert close_from_deals([opened, turned]) is None
    closed = close_from_deals([opened, turned, deal(3, c.DEAL_ENTRY_OUT, -5.0)])
    assert closed is not None
    assert (closed.ticket, closed.profit) == (3, 25.0)
