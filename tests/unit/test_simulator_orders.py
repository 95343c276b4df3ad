"""Simulator `order_send`: opening, closing, partial closes, SL/TP changes and rejections."""

from __future__ import annotations

from typing import Any

import pytest

from agents.terminal.simulator import (
    ManualClock,
    OrderHandled,
    PositionClosed,
    PositionModified,
    SimulatedTerminal,
    SimulatorSettings,
)
from agents.terminal.simulator import mt5sim as mt5


@pytest.fixture
def sim() -> SimulatedTerminal:
    terminal = SimulatedTerminal(SimulatorSettings(seed=5), ManualClock())
    assert terminal.initialize()
    terminal.set_price("EURUSD", 1.10000)
    return terminal


def buy(sim: SimulatedTerminal, volume: float = 1.0, **extra: Any) -> Any:
    request = {
        "action": mt5.TRADE_ACTION_DEAL,
        "symbol": "EURUSD",
        "volume": volume,
        "type": mt5.ORDER_TYPE_BUY,
        "magic": 77,
        "comment": "mtq",
        **extra,
    }
    return sim.order_send(request)


def test_order_send_when_market_buy_then_position_opened_at_ask_as_expert(
    sim: SimulatedTerminal,
) -> None:
    result = buy(sim, sl=1.09000, tp=1.12000)
    assert result.retcode == mt5.TRADE_RETCODE_DONE
    assert (result.price, result.volume, result.bid, result.ask) == (1.10010, 1.0, 1.1, 1.1001)
    assert isinstance(result.request, mt5.TradeRequest)
    (pos,) = sim.positions_get() or ()
    assert pos.ticket == result.order
    assert (pos.type, pos.reason, pos.magic, pos.comment) == (0, 3, 77, "mtq")
    assert (pos.sl, pos.tp, pos.identifier) == (1.09, 1.12, pos.ticket)
    (deal,) = sim.history_deals_get(position=pos.ticket) or ()
    assert (deal.ticket, deal.entry, deal.type, deal.reason) == (result.deal, 0, 0, 3)


def test_order_send_when_deal_with_position_then_closes_it_with_expert_deal(
    sim: SimulatedTerminal,
) -> None:
    ticket = buy(sim).order
    sim.set_price("EURUSD", 1.10200)
    result = sim.order_send(
        {
            "action": mt5.TRADE_ACTION_DEAL,
            "symbol": "EURUSD",
            "volume": 1.0,
            "type": mt5.ORDER_TYPE_SELL,
            "position": ticket,
            "magic": 77,
        }
    )
    assert result is not None
    assert result.retcode == mt5.TRADE_RETCODE_DONE
    assert result.price == 1.10200
    assert sim.positions_get() == ()
    into, out = sim.history_deals_get(position=ticket) or ()
    assert (out.entry, out.type, out.reason) == (mt5.DEAL_ENTRY_OUT, mt5.DEAL_TYPE_SELL, 3)
    assert out.profit == pytest.approx((1.10200 - 1.10010) * 100_000)
    assert (into.commission, out.commission) == (-3.5, -3.5)
    account = sim.account_info()
    assert account is not None
    assert account.balance == pytest.approx(10_000 + out.profit - 7.0)
    assert account.margin == 0.0


def test_order_send_when_partial_close_then_remaining_volume_stays_open(
    sim: SimulatedTerminal,
) -> None:
    ticket = buy(sim).order
    result = sim.order_send(
        {
            "action": mt5.TRADE_ACTION_DEAL,
            "symbol": "EURUSD",
            "volume": 0.4,
            "type": mt5.ORDER_TYPE_SELL,
            "position": ticket,
        }
    )
    assert result is not None
    assert result.retcode == mt5.TRADE_RETCODE_DONE
    (pos,) = sim.positions_get(ticket=ticket) or ()
    assert pos.volume == pytest.approx(0.6)
    closed = [e for e in sim.history if isinstance(e, PositionClosed)]
    assert [(e.volume, e.remaining_volume) for e in closed] == [(0.4, 0.6)]


def test_order_send_when_sltp_then_position_modified_and_recorded(sim: SimulatedTerminal) -> None:
    ticket = buy(sim).order
    request = {
        "action": mt5.TRADE_ACTION_SLTP,
        "position": ticket,
        "symbol": "EURUSD",
        "sl": 1.09500,
        "tp": 1.11000,
    }
    result = sim.order_send(request)
    assert result is not None
    assert result.retcode == mt5.TRADE_RETCODE_DONE
    (pos,) = sim.positions_get() or ()
    assert (pos.sl, pos.tp) == (1.095, 1.11)
    assert [e for e in sim.history if isinstance(e, PositionModified)] == [
        PositionModified(sim.now_msc, ticket, 1.095, 1.11)
    ]
    again = sim.order_send(request)
    assert again is not None
    assert again.retcode == mt5.TRADE_RETCODE_NO_CHANGES


@pytest.mark.parametrize(
    ("extra", "retcode"),
    [
        ({"type_filling": mt5.ORDER_FILLING_IOC}, mt5.TRADE_RETCODE_INVALID_FILL),
        ({"type_filling": mt5.ORDER_FILLING_RETURN}, mt5.TRADE_RETCODE_INVALID_FILL),
        ({"volume": 0.015}, mt5.TRADE_RETCODE_INVALID_VOLUME),
        ({"volume": 500.0}, mt5.TRADE_RETCODE_INVALID_VOLUME),
        ({"sl": 1.10500}, mt5.TRADE_RETCODE_INVALID_STOPS),
        ({"volume": 50.0}, mt5.TRADE_RETCODE_NO_MONEY),
        ({"symbol": "NOPE"}, mt5.TRADE_RETCODE_INVALID),
        ({"position": 999}, mt5.TRADE_RETCODE_POSITION_CLOSED),
    ],
)
def test_order_send_when_request_unacceptable_then_retcode_and_nothing_opened(
    sim: SimulatedTerminal, extra: dict[str, Any], retcode: int
) -> None:
    result = buy(sim, **extra)
    assert result is not None
    assert result.retcode == retcode
    assert sim.positions_get() == ()
    last = sim.history[-1]
    assert isinstance(last, OrderHandled)
    assert (last.retcode, last.request["symbol"]) == (retcode, result.request.symbol)


def test_order_send_when_price_within_deviation_then_filled(sim: SimulatedTerminal) -> None:
    result = buy(sim, price=1.10000, deviation=20)
    assert result is not None
    assert result.retcode == mt5.TRADE_RETCODE_DONE


@pytest.mark.parametrize(
    ("request_", "bad_key"),
    [
        ({"action": 1, "symbol": "EURUSD", "foo": 1}, "foo"),
        ({"symbol": "EURUSD"}, "action"),
        ({"action": 1, "volume": "1"}, "volume"),
    ],
)
def test_order_send_when_request_malformed_then_none_and_invalid_params_error(
    sim: SimulatedTerminal, request_: dict[str, Any], bad_key: str
) -> None:
    assert sim.order_send(request_) is None
    assert sim.last_error() == (mt5.RES_E_INVALID_PARAMS, f'Invalid "{bad_key}" argument')


def test_history_deals_when_filtered_by_dates_and_group_then_only_matching_deals(
    sim: SimulatedTerminal,
) -> None:
    clock = sim.clock
    assert isinstance(clock, ManualClock)
    buy(sim)
    clock.advance(10)
    later = clock.now()
    sim.order_send({"action": 1, "symbol": "GBPUSD", "volume": 0.1, "type": 1, "type_filling": 1})
    deals = sim.history_deals_get(later - 1, later + 1)
    assert [d.symbol for d in deals or ()] == ["GBPUSD"]
    everything = sim.history_deals_get(0, later + 1, group="*,!GBP*")
    assert [d.symbol for d in everything or ()] == ["", "EURUSD"]  # the deposit, then EURUSD
