"""PlaceOrder and ModifyPosition through the agent's executor against the simulator, without
NATS: the request the terminal sees and the answer the agent publishes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agents.terminal.mt5 import constants as c
from agents.terminal.simulator import events as sim_events
from bus.schemas import ModifyPosition, OrderExecuted, OrderRejected, PlaceOrder
from tests.unit.test_agent_support import Rig, utc

CID = "0123abcd" + "e" * 24


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    made = Rig(tmp_path, utc("2026-01-06T10:00:00"), ("EURUSD", "GBPUSD"))
    yield made
    made.close()


def sends(rig: Rig) -> list[sim_events.OrderHandled]:
    return [e for e in rig.sim.history if isinstance(e, sim_events.OrderHandled)]


def place(**overrides: object) -> PlaceOrder:
    fields: dict[str, object] = {"command_id": CID, "account_id": "rules", "symbol": "EURUSD",
                                 "side": "buy", "volume": 0.2}  # fmt: skip
    fields.update(overrides)
    return PlaceOrder(**fields)  # type: ignore[arg-type]


async def test_place_when_market_buy_then_one_position_with_comment_and_answer_names_it(
    rig: Rig,
) -> None:
    await rig.poll()
    await rig.agent.executor.handle(place(deviation_points=7))
    (result,) = rig.of(OrderExecuted)
    (position,) = [p for p in rig.sim.positions_get() or () if p.comment == "mtq-0123abcd"]
    assert result.position == position.identifier
    assert (result.volume, result.price) == (0.2, position.price_open)
    assert result.deal is not None
    assert result.ticket == position.ticket
    (sent,) = sends(rig)
    assert sent.request["deviation"] == 7
    assert sent.request["type_filling"] == c.ORDER_FILLING_FOK


async def test_modify_when_position_open_then_sl_tp_set_and_executed(rig: Rig) -> None:
    await rig.poll()
    await rig.agent.executor.handle(place())
    (opened,) = rig.of(OrderExecuted)
    (position,) = rig.sim.positions_get(ticket=opened.ticket) or ()
    sl, tp = round(position.price_open - 0.0050, 5), round(position.price_open + 0.0050, 5)
    await rig.agent.executor.handle(
        ModifyPosition(command_id="m" * 32, account_id="rules", ticket=opened.ticket, sl=sl, tp=tp)
    )
    (moved,) = rig.sim.positions_get(ticket=opened.ticket) or ()
    assert (moved.sl, moved.tp) == (sl, tp)
    assert [r.command_id for r in rig.of(OrderExecuted)] == [CID, "m" * 32]


async def test_modify_when_ticket_unknown_then_rejected_without_send(rig: Rig) -> None:
    await rig.poll()
    await rig.agent.executor.handle(
        ModifyPosition(command_id="m" * 32, account_id="rules", ticket=424242, sl=1.0)
    )
    (rejected,) = rig.of(OrderRejected)
    assert rejected.comment == "unknown ticket 424242: no open position"
    assert sends(rig) == []
