"""The simulator's netting account: one position per symbol, deals add, reduce, close or
reverse it (DEAL_ENTRY_INOUT), identifier kept; hedging stays the default."""

from __future__ import annotations

from typing import Any

import pytest

from agents.terminal.mt5 import constants as c
from agents.terminal.simulator import (
    ManualClock,
    PositionNetted,
    SimulatedTerminal,
    SimulatorSettings,
    settings_from_config,
)
from config.models import SimulatorConfig

EURUSD = tuple(s for s in SimulatorSettings().symbols if s.name == "EURUSD")


def _sim(mode: str = "netting") -> SimulatedTerminal:
    settings = SimulatorSettings(seed=3, symbols=EURUSD, margin_mode=mode)  # type: ignore[arg-type]
    sim = SimulatedTerminal(settings, ManualClock(1_767_693_600.0))
    assert sim.initialize()
    return sim


def _deal(sim: SimulatedTerminal, type_: int, volume: float, **extra: Any) -> int:
    tick = sim.symbol_info_tick("EURUSD")
    assert tick is not None
    request = {
        "action": c.TRADE_ACTION_DEAL,
        "symbol": "EURUSD",
        "volume": volume,
        "type": type_,
        "price": tick.ask if type_ == c.ORDER_TYPE_BUY else tick.bid,
        "type_filling": c.ORDER_FILLING_FOK,
        **extra,
    }
    result = sim.order_send(request)
    assert result is not None
    return result.retcode


def test_account_when_netting_configured_then_margin_mode_netting_else_hedging() -> None:
    assert _sim().account_info().margin_mode == c.ACCOUNT_MARGIN_MODE_RETAIL_NETTING  # type: ignore[union-attr]
    assert _sim("hedging").account_info().margin_mode == c.ACCOUNT_MARGIN_MODE_RETAIL_HEDGING  # type: ignore[union-attr]
    assert SimulatorConfig().margin_mode == "hedging"
    netting = settings_from_config(SimulatorConfig(margin_mode="netting"))
    assert netting.margin_mode == "netting"
    with pytest.raises(ValueError, match="margin mode"):
        SimulatorSettings(margin_mode="fifo")  # type: ignore[arg-type]


def test_deal_when_same_side_on_netting_then_one_position_with_average_price() -> None:
    sim = _sim()
    first = sim.open_position("EURUSD", c.POSITION_TYPE_BUY, 1.0)
    sim.set_price("EURUSD", first.price_open + 0.0010)
    ask = sim.symbol_info_tick("EURUSD").ask  # type: ignore[union-attr]
    assert _deal(sim, c.ORDER_TYPE_BUY, 1.0) == c.TRADE_RETCODE_DONE
    (pos,) = sim.positions_get() or ()
    assert (pos.ticket, pos.identifier, pos.volume) == (first.ticket, first.ticket, 2.0)
    assert pos.price_open == round((first.price_open + ask) / 2, 5)
    entries = [d.entry for d in sim.history_deals_get(position=first.identifier) or ()]
    assert entries == [c.DEAL_ENTRY_IN, c.DEAL_ENTRY_IN]


def test_deal_when_same_side_on_hedging_then_two_positions() -> None:
    sim = _sim("hedging")
    sim.open_position("EURUSD", c.POSITION_TYPE_BUY, 1.0)
    assert _deal(sim, c.ORDER_TYPE_BUY, 1.0) == c.TRADE_RETCODE_DONE
    assert len(sim.positions_get() or ()) == 2


def test_deal_when_opposite_and_smaller_on_netting_then_reduced_then_closed() -> None:
    sim = _sim()
    first = sim.open_position("EURUSD", c.POSITION_TYPE_BUY, 1.0)
    assert _deal(sim, c.ORDER_TYPE_SELL, 0.4) == c.TRADE_RETCODE_DONE
    (pos,) = sim.positions_get() or ()
    assert (pos.ticket, pos.type, pos.volume) == (first.ticket, c.POSITION_TYPE_BUY, 0.6)
    assert _deal(sim, c.ORDER_TYPE_SELL, 0.6) == c.TRADE_RETCODE_DONE
    assert sim.positions_get() == ()
    deals = sim.history_deals_get(position=first.identifier) or ()
    assert [d.entry for d in deals] == [c.DEAL_ENTRY_IN, c.DEAL_ENTRY_OUT, c.DEAL_ENTRY_OUT]


def test_deal_when_opposite_and_larger_on_netting_then_reversed_under_same_identifier() -> None:
    sim = _sim()
    first = sim.open_position("EURUSD", c.POSITION_TYPE_BUY, 1.0)
    sim.set_price("EURUSD", first.price_open + 0.0020)
    balance = sim.account_info().balance  # type: ignore[union-attr]
    assert _deal(sim, c.ORDER_TYPE_SELL, 1.5) == c.TRADE_RETCODE_DONE
    (pos,) = sim.positions_get() or ()
    assert pos.identifier == first.identifier
    assert pos.ticket != first.ticket
    assert (pos.type, pos.volume) == (c.POSITION_TYPE_SELL, 0.5)
    deals = sim.history_deals_get(position=first.identifier) or ()
    assert [d.entry for d in deals] == [c.DEAL_ENTRY_IN, c.DEAL_ENTRY_INOUT]
    inout = deals[-1]
    assert (inout.type, inout.volume, inout.order) == (c.DEAL_TYPE_SELL, 1.5, pos.ticket)
    # The old side's profit is realized by the reversal; commission is on the whole deal.
    assert inout.profit == 200.0  # the bid set 20 pips above the buy price
    assert inout.commission == -5.25
    assert sim.account_info().balance == pytest.approx(balance + inout.profit - 5.25)  # type: ignore[union-attr]
    (netted,) = [e for e in sim.history if isinstance(e, PositionNetted)]
    assert (netted.entry, netted.ticket, netted.type) == (
        c.DEAL_ENTRY_INOUT,
        pos.ticket,
        c.POSITION_TYPE_SELL,
    )


def test_close_when_position_named_on_netting_then_never_reverses() -> None:
    sim = _sim()
    first = sim.open_position("EURUSD", c.POSITION_TYPE_BUY, 1.0)
    retcode = _deal(sim, c.ORDER_TYPE_SELL, 1.5, position=first.ticket)
    assert retcode == c.TRADE_RETCODE_INVALID_CLOSE_VOLUME
    assert _deal(sim, c.ORDER_TYPE_SELL, 1.0, position=first.ticket) == c.TRADE_RETCODE_DONE
    assert sim.positions_get() == ()


def test_deal_when_netting_closes_position_then_open_position_refuses_and_deal_returns_none() -> (
    None
):
    sim = _sim()
    sim.open_position("EURUSD", c.POSITION_TYPE_BUY, 1.0)
    with pytest.raises(ValueError, match="closed"):
        sim.open_position("EURUSD", c.POSITION_TYPE_SELL, 0.5 + 0.5)
    assert sim.positions_get() == ()
    sim.open_position("EURUSD", c.POSITION_TYPE_BUY, 1.0)
    assert sim.deal("EURUSD", c.POSITION_TYPE_SELL, 1.0) is None


def test_scripted_trader_when_netting_then_at_most_one_position_per_symbol() -> None:
    from agents.terminal.simulator import StrategySpec

    strategy = StrategySpec(kind="random", open_probability=0.5, close_probability=0.05,
                            sl_pips=None, tp_pips=None)  # fmt: skip
    settings = SimulatorSettings(seed=5, margin_mode="netting", strategy=strategy, fast=True)
    sim = SimulatedTerminal(settings, ManualClock(1_767_693_600.0))
    assert sim.initialize()
    most = 0
    for _ in range(400):
        sim.symbol_info_tick("EURUSD")
        positions = sim.positions_get() or ()
        symbols = [p.symbol for p in positions]
        assert len(symbols) == len(set(symbols))
        most = max(most, len(positions))
    entries = {d.entry for d in sim.deals}
    assert c.DEAL_ENTRY_INOUT in entries or c.DEAL_ENTRY_OUT in entries
    assert most >= 2
