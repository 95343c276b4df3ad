"""PlaceOrder and ModifyPosition through the agent's executor against the simulator, without
NATS: the request the terminal sees and the answer the agent publishes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from agents.order_requests import close_request, place_request
from agents.store import transaction
from agents.terminal.mt5 import constants as c
from agents.terminal.mt5.structures import TradeDeal
from agents.terminal.simulator import events as sim_events
from agents.terminal.simulator.settings import FaultSpec
from bus.codec import encode
from bus.schemas import (
    CloseAll,
    ClosePosition,
    ModifyPosition,
    OrderExecuted,
    OrderRejected,
    PlaceOrder,
    TickReceived,
)
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


# --- never twice: the order executes and its answer is lost -------------------------------


@pytest.fixture
def lossy(tmp_path: Path) -> Iterator[Rig]:
    lost = FaultSpec("order_send_lost_reply", start_s=0.0, duration_s=3600.0)
    made = Rig(tmp_path, utc("2026-01-06T10:00:00"), ("EURUSD",), faults=(lost,))
    yield made
    made.close()


def mtq_deals(rig: Rig, comment: str) -> list[TradeDeal]:
    return [d for d in rig.sim.deals if d.comment == comment]


async def test_place_when_answer_lost_then_found_by_comment_and_one_position(lossy: Rig) -> None:
    await lossy.poll()
    await lossy.agent.executor.handle(place())
    (result,) = lossy.of(OrderExecuted)
    (deal,) = mtq_deals(lossy, "mtq-0123abcd")
    assert (result.deal, result.position, result.volume) == (deal.ticket, deal.position_id, 0.2)
    assert len(sends(lossy)) == 1  # found in the deals: never sent again
    assert len(lossy.sim.positions_get() or ()) == 1
    assert lossy.agent.executor.sender.found == 1


@pytest.mark.parametrize("volume", [0.1, None])
async def test_close_when_answer_lost_then_found_and_exactly_one_closing_deal(
    lossy: Rig, volume: float | None
) -> None:
    opened = lossy.sim.open_position("EURUSD", c.POSITION_TYPE_BUY, 0.3)
    await lossy.poll()
    command = ClosePosition(command_id="c10se" + "0" * 27, account_id="rules",
                            ticket=opened.ticket, volume=volume)  # fmt: skip
    await lossy.agent.executor.handle(command)
    (result,) = lossy.of(OrderExecuted)
    (deal,) = mtq_deals(lossy, "mtq-c10se000")
    assert deal.entry == c.DEAL_ENTRY_OUT
    assert (result.deal, result.position) == (deal.ticket, opened.identifier)
    assert result.volume == (0.1 if volume else 0.3)
    assert len(sends(lossy)) == 1
    left = lossy.sim.positions_get() or ()
    assert [p.volume for p in left] == ([0.2] if volume else [])


async def test_place_when_no_reply_and_nothing_executed_then_sent_again_once_absent(
    tmp_path: Path,
) -> None:
    nothing = FaultSpec("order_send_none", start_s=0.0, duration_s=3600.0)
    rig = Rig(tmp_path, utc("2026-01-06T10:00:00"), ("EURUSD",), faults=(nothing,))
    try:
        await rig.poll()
        await rig.agent.executor.handle(place())
        (rejected,) = rig.of(OrderRejected)
        assert rejected.comment.startswith("order_send returned None: -1")
        assert rejected.comment.endswith("after 4 attempts")
        assert rig.sim.positions_get() == ()
        assert rig.agent.executor.sender.lookups == 4  # one search before each resend
    finally:
        rig.close()


async def test_resume_when_agent_died_after_the_send_then_answered_from_the_lookup(
    tmp_path: Path,
) -> None:
    rig = Rig(tmp_path, utc("2026-01-06T10:00:00"), ("EURUSD",))
    await rig.poll()
    command = place()
    with transaction(rig.agent.conn):  # recorded, then sent, then the agent died
        rig.agent.executor.state.command_started(CID, "PlaceOrder", encode(command),
                                                 rig.clock.now())  # fmt: skip
    tick = rig.sim.symbol_info_tick("EURUSD")
    assert tick is not None
    sent = rig.sim.order_send(place_request(command, tick, c.ORDER_FILLING_FOK))
    assert sent is not None
    answered = await rig.agent.executor.resume_interrupted()
    assert answered == 1
    (result,) = rig.of(OrderExecuted)
    assert (result.command_id, result.deal) == (CID, sent.deal)
    assert len(sends(rig)) == 1
    rig.close()


async def test_resume_when_agent_died_before_the_send_then_sent_once(tmp_path: Path) -> None:
    rig = Rig(tmp_path, utc("2026-01-06T10:00:00"), ("EURUSD",))
    await rig.poll()
    with transaction(rig.agent.conn):
        rig.agent.executor.state.command_started(CID, "PlaceOrder", encode(place()),
                                                 rig.clock.now())  # fmt: skip
    await rig.agent.executor.resume_interrupted()
    (result,) = rig.of(OrderExecuted)
    assert result.retcode == c.TRADE_RETCODE_DONE
    assert len(sends(rig)) == 1
    assert len(rig.sim.positions_get() or ()) == 1
    rig.close()


# --- pending orders, refusals, Market Watch, the simulated trader's own trades ----------------


async def test_place_when_buy_limit_with_expiry_then_pending_with_specified_time(rig: Rig) -> None:
    await rig.poll()
    tick = rig.sim.symbol_info_tick("EURUSD")
    assert tick is not None
    expires = datetime.fromtimestamp(rig.clock.now() + 600, UTC).replace(microsecond=0)
    price = round(tick.ask - 0.0020, 5)
    await rig.agent.executor.handle(place(order_type="limit", price=price, expires_at=expires))
    (result,) = rig.of(OrderExecuted)
    (order,) = rig.sim.orders_get() or ()
    assert (result.retcode, result.ticket, result.deal) == (c.TRADE_RETCODE_PLACED, order.ticket,
                                                           None)  # fmt: skip
    assert (order.comment, order.price_open, order.type) == ("mtq-0123abcd", price,
                                                             c.ORDER_TYPE_BUY_LIMIT)  # fmt: skip
    assert order.type_time == c.ORDER_TIME_SPECIFIED
    assert order.time_expiration == int(expires.timestamp())  # a UTC server: offset 0


async def test_place_when_pending_answer_lost_then_found_in_orders_and_placed_once(
    lossy: Rig,
) -> None:
    await lossy.poll()
    tick = lossy.sim.symbol_info_tick("EURUSD")
    assert tick is not None
    await lossy.agent.executor.handle(place(order_type="stop", price=round(tick.ask + 0.002, 5)))
    (result,) = lossy.of(OrderExecuted)
    (order,) = lossy.sim.orders_get() or ()
    assert (result.retcode, result.ticket) == (c.TRADE_RETCODE_PLACED, order.ticket)
    assert len(sends(lossy)) == 1


async def test_place_when_market_closed_then_rejected_with_retcode_and_not_retried(
    rig: Rig,
) -> None:
    rig.sim.world.specs["EURUSD"] = replace(rig.sim.world.specs["EURUSD"], sessions=((0, 0, 1),))
    await rig.poll()
    await rig.agent.executor.handle(place())
    (rejected,) = rig.of(OrderRejected)
    assert (rejected.retcode, rejected.comment) == (c.TRADE_RETCODE_MARKET_CLOSED, "Market closed")
    assert len(sends(rig)) == 1
    assert rig.sim.positions_get() == ()


async def test_place_when_symbol_not_in_market_watch_then_selected_and_executed(
    tmp_path: Path,
) -> None:
    rig = Rig(tmp_path, utc("2026-01-06T10:00:00"), ("EURUSD",), hidden_symbols=("EURUSD",))
    try:
        await rig.agent.executor.handle(place())
        (result,) = rig.of(OrderExecuted)
        assert result.retcode == c.TRADE_RETCODE_DONE
        info = rig.sim.symbol_info("EURUSD")
        assert info is not None
        assert info.select is True
    finally:
        rig.close()


async def test_place_when_trader_has_own_positions_then_lookup_finds_only_the_signals(
    lossy: Rig,
) -> None:
    own = lossy.sim.open_position("EURUSD", c.POSITION_TYPE_BUY, 0.2, comment="sim-0123abcd")
    other = lossy.sim.open_position("EURUSD", c.POSITION_TYPE_BUY, 0.2, comment="mtq-99999999")
    await lossy.poll()
    await lossy.agent.executor.handle(place())
    (result,) = lossy.of(OrderExecuted)
    assert result.position not in (own.identifier, other.identifier)
    (mine,) = [p for p in lossy.sim.positions_get() or () if p.comment == "mtq-0123abcd"]
    assert result.position == mine.identifier
    assert len(lossy.sim.positions_get() or ()) == 3


async def test_poll_when_symbol_not_in_market_watch_then_agent_selects_it_and_gets_ticks(
    tmp_path: Path,
) -> None:
    rig = Rig(tmp_path, utc("2026-01-06T10:00:00"), ("EURUSD",), hidden_symbols=("EURUSD",))
    try:
        await rig.poll()
        await rig.poll(0.5)
        assert rig.of(TickReceived)
        assert rig.agent.session.failures == 0
    finally:
        rig.close()


# --- retries, lost answers on SL/TP and on a timed-out IPC, resumed closes ---------------------


async def test_place_when_requoted_then_retried_without_lookups_and_bounded(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    await rig.poll()
    session = rig.agent.session
    real = session.order_send
    requotes = iter([c.TRADE_RETCODE_REQUOTE, c.TRADE_RETCODE_PRICE_CHANGED])

    async def requoted(request: dict[str, object]) -> tuple[Any, tuple[int, str]]:
        code = next(requotes, None)
        if code is None:
            return await real(request)
        result, error = await real({**request, "volume": -1.0})  # refused: nothing executes
        assert result is not None
        return result._replace(retcode=code, comment="Requote"), error

    monkeypatch.setattr(session, "order_send", requoted)
    await rig.agent.executor.handle(place())
    (result,) = rig.of(OrderExecuted)
    assert result.retcode == c.TRADE_RETCODE_DONE
    assert len(rig.sim.positions_get() or ()) == 1
    assert rig.agent.executor.sender.lookups == 0  # a requote executed nothing


async def test_place_when_always_requoted_then_rejected_after_the_bounded_attempts(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    await rig.poll()
    session = rig.agent.session
    real = session.order_send

    async def requoted(request: dict[str, object]) -> tuple[Any, tuple[int, str]]:
        result, error = await real({**request, "volume": -1.0})
        assert result is not None
        return result._replace(retcode=c.TRADE_RETCODE_PRICE_OFF, comment="Off quotes"), error

    monkeypatch.setattr(session, "order_send", requoted)
    await rig.agent.executor.handle(place())
    (rejected,) = rig.of(OrderRejected)
    assert (rejected.retcode, rejected.comment) == (c.TRADE_RETCODE_PRICE_OFF,
                                                    "Off quotes after 4 attempts")  # fmt: skip
    assert len(sends(rig)) == 4
    assert rig.sim.positions_get() == ()


async def test_modify_when_answer_lost_then_found_on_the_position_and_sent_once(
    lossy: Rig,
) -> None:
    opened = lossy.sim.open_position("EURUSD", c.POSITION_TYPE_BUY, 0.1)
    await lossy.poll()
    sl = round(opened.price_open - 0.0050, 5)
    command = ModifyPosition(command_id="m" * 32, account_id="rules", ticket=opened.ticket, sl=sl)
    await lossy.agent.executor.handle(command)
    (result,) = lossy.of(OrderExecuted)
    assert result.position == opened.identifier
    assert len(sends(lossy)) == 1
    (pos,) = lossy.sim.positions_get() or ()
    assert pos.sl == sl


async def test_place_when_ipc_times_out_after_executing_then_reconnects_and_finds_it(
    tmp_path: Path,
) -> None:
    hang = FaultSpec("order_send_hang", start_s=0.0, duration_s=3600.0, hang_s=0.0)
    rig = Rig(tmp_path, utc("2026-01-06T10:00:00"), ("EURUSD",), faults=(hang,))
    try:
        await rig.poll()
        reconnects = rig.agent.session.reconnects
        await rig.agent.executor.handle(place())
        (result,) = rig.of(OrderExecuted)
        assert result.deal is not None
        assert rig.agent.session.reconnects == reconnects + 1  # -10005 dropped the session
        assert len(sends(rig)) == 1
        assert len(rig.sim.positions_get() or ()) == 1
    finally:
        rig.close()


async def test_resume_when_partial_close_done_before_the_crash_then_not_closed_again(
    rig: Rig,
) -> None:
    opened = rig.sim.open_position("EURUSD", c.POSITION_TYPE_BUY, 0.3)
    await rig.poll()
    command = ClosePosition(command_id="c10se" + "0" * 27, account_id="rules",
                            ticket=opened.ticket, volume=0.1)  # fmt: skip
    with transaction(rig.agent.conn):
        rig.agent.executor.state.command_started(command.command_id, "ClosePosition",
                                                 encode(command), rig.clock.now())  # fmt: skip
    tick = rig.sim.symbol_info_tick("EURUSD")
    assert tick is not None
    (position,) = rig.sim.positions_get() or ()
    done = rig.sim.order_send(
        close_request(position, 0.1, tick, c.ORDER_FILLING_FOK, command.command_id)
    )
    assert done is not None
    await rig.agent.executor.resume_interrupted()
    (result,) = rig.of(OrderExecuted)
    assert (result.deal, result.volume) == (done.deal, 0.1)
    (left,) = rig.sim.positions_get() or ()
    assert left.volume == 0.2
    assert len(sends(rig)) == 1


async def test_resume_when_close_all_interrupted_then_found_closes_answered_rest_closed(
    rig: Rig,
) -> None:
    first = rig.sim.open_position("EURUSD", c.POSITION_TYPE_BUY, 0.1)
    second = rig.sim.open_position("EURUSD", c.POSITION_TYPE_SELL, 0.2)
    await rig.poll()
    command = CloseAll(command_id="a11" + "0" * 29, account_id="rules")
    with transaction(rig.agent.conn):
        rig.agent.executor.state.command_started(command.command_id, "CloseAll",
                                                 encode(command), rig.clock.now())  # fmt: skip
    tick = rig.sim.symbol_info_tick("EURUSD")
    assert tick is not None
    (pos,) = rig.sim.positions_get(ticket=first.ticket) or ()
    done = rig.sim.order_send(close_request(pos, 0.1, tick, c.ORDER_FILLING_FOK,
                                            command.command_id))  # fmt: skip
    assert done is not None  # the first close went out, then the agent died
    await rig.agent.executor.resume_interrupted()
    results = rig.of(OrderExecuted)
    assert sorted((r.ticket, r.volume) for r in results) == [(first.identifier, 0.1),
                                                             (second.ticket, 0.2)]  # fmt: skip
    assert rig.sim.positions_get() == ()
    assert len(sends(rig)) == 2


async def test_modify_when_lost_answer_and_levels_rounded_then_no_changes_counts_as_done(
    lossy: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = lossy.sim.open_position("EURUSD", c.POSITION_TYPE_BUY, 0.1)
    await lossy.poll()
    sl = round(opened.price_open - 0.0050, 5)
    real = lossy.sim.order_send

    def rounding(request: dict[str, Any]) -> Any:  # the server keeps 5 digits
        return real({**request, "sl": round(float(request["sl"]), 5)})

    monkeypatch.setattr(lossy.sim, "order_send", rounding)
    command = ModifyPosition(command_id="m" * 32, account_id="rules", ticket=opened.ticket,
                             sl=sl + 0.000001)  # fmt: skip
    await lossy.agent.executor.handle(command)
    (result,) = lossy.of(OrderExecuted)
    assert result.retcode == c.TRADE_RETCODE_DONE
    (pos,) = lossy.sim.positions_get() or ()
    assert pos.sl == sl
    assert [e.retcode for e in sends(lossy)] == [c.TRADE_RETCODE_DONE, c.TRADE_RETCODE_NO_CHANGES]
