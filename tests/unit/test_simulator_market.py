"""Simulator market and account: determinism, clock stepping, money math, stops, stop-out."""

from __future__ import annotations

from typing import Any

import pytest

from agents.terminal.simulator import (
    ManualClock,
    PositionClosed,
    PositionOpened,
    SimulatedTerminal,
    SimulatorSettings,
    StrategySpec,
    TickGenerated,
)
from agents.terminal.simulator import mt5sim as mt5


def make_sim(**overrides: Any) -> tuple[SimulatedTerminal, ManualClock]:
    clock = ManualClock()
    sim = SimulatedTerminal(SimulatorSettings(**overrides), clock)
    assert sim.initialize()
    return sim, clock


def drive(sim: SimulatedTerminal, clock: ManualClock) -> list[Any]:
    """A fixed script of clock moves and calls; returns everything observed."""
    seen: list[Any] = []
    for i in range(150):
        clock.advance(0.37)
        seen.append(sim.symbol_info_tick("EURUSD"))
        seen.append(sim.positions_get())
        if i % 25 == 0:
            seen.append(
                sim.order_send(
                    {
                        "action": mt5.TRADE_ACTION_DEAL,
                        "symbol": "GBPUSD",
                        "volume": 0.1,
                        "type": mt5.ORDER_TYPE_SELL,
                        "magic": 9,
                    }
                )
            )
        seen.append(sim.account_info())
    return seen


RANDOM = StrategySpec(kind="random", open_probability=0.05, close_probability=0.02, magic=0)


def test_simulation_when_same_seed_and_clock_then_identical_observations_and_record() -> None:
    first, clock1 = make_sim(seed=42, strategy=RANDOM)
    second, clock2 = make_sim(seed=42, strategy=RANDOM)
    assert drive(first, clock1) == drive(second, clock2)
    assert first.history == second.history
    assert first.deals == second.deals
    assert any(isinstance(e, PositionClosed) for e in first.history)


def test_simulation_when_seed_differs_then_prices_differ() -> None:
    first, clock1 = make_sim(seed=1)
    second, clock2 = make_sim(seed=2)
    clock1.advance(5)
    clock2.advance(5)
    assert first.symbol_info_tick("EURUSD") != second.symbol_info_tick("EURUSD")


def test_market_when_clock_advances_then_one_tick_per_interval_per_symbol() -> None:
    sim, clock = make_sim(tick_interval_ms=100)
    origin = sim.now_msc
    clock.advance(0.05)
    assert sim.symbol_info_tick("EURUSD").time_msc == origin  # type: ignore[union-attr]
    clock.advance(0.95)
    tick = sim.symbol_info_tick("EURUSD")
    assert tick is not None
    assert tick.time_msc == origin + 1000
    eurusd = [e for e in sim.history if isinstance(e, TickGenerated) and e.symbol == "EURUSD"]
    assert [e.time_msc - origin for e in eurusd] == list(range(0, 1001, 100))
    ticks = sim.copy_ticks_from("EURUSD", (origin + 500) / 1000, 3, mt5.COPY_TICKS_ALL)
    assert ticks is not None
    assert [int(t) - origin for t in ticks["time_msc"]] == [500, 600, 700]


def test_market_when_fast_mode_then_each_tick_call_advances_one_step() -> None:
    sim, _clock = make_sim(fast=True, tick_interval_ms=10)
    times = [sim.symbol_info_tick("EURUSD").time_msc for _ in range(5)]  # type: ignore[union-attr]
    assert [t - times[0] for t in times] == [0, 10, 20, 30, 40]


def test_prices_when_generated_then_quoted_with_symbol_digits_and_spread() -> None:
    sim, clock = make_sim()
    clock.advance(3)
    for name, digits, spread in (("EURUSD", 5, 10), ("USDJPY", 3, 12), ("XAUUSD", 2, 25)):
        info = sim.symbol_info(name)
        assert info is not None
        assert (info.digits, info.spread) == (digits, spread)
        assert round(info.bid, digits) == info.bid
        assert info.ask - info.bid == pytest.approx(spread * info.point)


def test_account_when_buy_moves_in_favour_then_profit_equity_and_margin_follow() -> None:
    sim, _ = make_sim(initial_balance=10_000.0, leverage=100)
    sim.set_price("EURUSD", 1.10000)
    pos = sim.open_position("EURUSD", mt5.POSITION_TYPE_BUY, 1.0)
    assert pos.price_open == 1.10010  # bought at the ask (10-point spread)
    sim.set_price("EURUSD", 1.10510)
    (pos,) = sim.positions_get()  # type: ignore[misc]
    expected_profit = (1.10510 - 1.10010) * 1.0 * 100_000
    assert pos.price_current == 1.10510
    assert pos.profit == pytest.approx(expected_profit)
    account = sim.account_info()
    assert account is not None
    expected_margin = 1.0 * 100_000 * 1.10010 / 100
    assert account.margin == pytest.approx(expected_margin, abs=0.01)
    assert account.profit == pytest.approx(expected_profit)
    commission = -3.5  # EURUSD's 3.5 per lot, charged on the entry deal
    assert account.balance == pytest.approx(10_000 + commission)
    assert account.equity == pytest.approx(10_000 + commission + expected_profit)
    assert account.margin_free == pytest.approx(account.equity - account.margin, abs=0.01)
    assert account.margin_level == pytest.approx(account.equity / account.margin * 100, abs=0.01)


def test_account_when_sell_in_jpy_quote_then_profit_converted_through_tick_value() -> None:
    sim, _ = make_sim(leverage=100)
    sim.set_price("USDJPY", 150.000)
    sim.open_position("USDJPY", mt5.POSITION_TYPE_SELL, 0.5)  # sold at the bid, 150.000
    sim.set_price("USDJPY", 149.488)  # ask 149.500: 0.5 JPY = 500 points in our favour
    (pos,) = sim.positions_get()  # type: ignore[misc]
    assert pos.price_current == 149.500
    assert pos.profit == pytest.approx(500 * 0.6667 * 0.5, abs=0.01)
    account = sim.account_info()
    assert account is not None
    # 0.5 lot of USD 100k at 100:1 is 500 USD, whatever the JPY rate.
    assert account.margin == pytest.approx(500.0, rel=1e-3)


@pytest.mark.parametrize(
    ("side", "stops", "move_to", "reason"),
    [
        (mt5.POSITION_TYPE_BUY, {"sl": 1.09500}, 1.09400, mt5.DEAL_REASON_SL),
        (mt5.POSITION_TYPE_BUY, {"tp": 1.10500}, 1.10600, mt5.DEAL_REASON_TP),
        (mt5.POSITION_TYPE_SELL, {"sl": 1.10500}, 1.10600, mt5.DEAL_REASON_SL),
        (mt5.POSITION_TYPE_SELL, {"tp": 1.09500}, 1.09400, mt5.DEAL_REASON_TP),
    ],
)
def test_position_when_price_crosses_stop_then_closed_with_deal_reason(
    side: int, stops: dict[str, float], move_to: float, reason: int
) -> None:
    sim, _ = make_sim()
    sim.set_price("EURUSD", 1.10000)
    pos = sim.open_position("EURUSD", side, 0.2, sl=stops.get("sl", 0.0), tp=stops.get("tp", 0.0))
    sim.set_price("EURUSD", move_to)
    assert sim.positions_get() == ()
    out = sim.history_deals_get(position=pos.ticket)
    assert out is not None
    assert [(d.entry, d.reason) for d in out] == [
        (mt5.DEAL_ENTRY_IN, 0),
        (mt5.DEAL_ENTRY_OUT, reason),
    ]
    closed = [e for e in sim.history if isinstance(e, PositionClosed)]
    assert [(e.ticket, e.deal_reason, e.remaining_volume) for e in closed] == [
        (pos.ticket, reason, 0.0)
    ]
    account = sim.account_info()
    assert account is not None
    realized = sum(d.profit + d.commission + d.swap + d.fee for d in out)
    assert [d.commission for d in out] == [-0.7, -0.7]  # 3.5 per lot and deal
    assert account.balance == pytest.approx(10_000 + realized)


def test_account_when_margin_level_below_stop_out_then_worst_position_closed_with_so() -> None:
    sim, _ = make_sim(initial_balance=2_000.0, leverage=100, stop_out_level_percent=50.0)
    sim.set_price("EURUSD", 1.08500)
    sim.set_price("GBPUSD", 1.27000)
    loser = sim.open_position("EURUSD", mt5.POSITION_TYPE_BUY, 1.0)
    keeper = sim.open_position("GBPUSD", mt5.POSITION_TYPE_BUY, 0.5)
    sim.set_price("EURUSD", 1.07500)  # about -1000: level ~58%, above stop-out
    assert len(sim.positions_get() or ()) == 2
    sim.set_price("EURUSD", 1.07300)  # about -1200: level ~46%, below stop-out
    remaining = sim.positions_get()
    assert [p.ticket for p in remaining or ()] == [keeper.ticket]
    (_, out) = sim.history_deals_get(position=loser.ticket) or ()
    assert out.reason == mt5.DEAL_REASON_SO
    assert out.comment.startswith("[so")
    account = sim.account_info()
    assert account is not None
    assert account.margin_level > 50.0


def test_strategy_when_random_then_opens_and_closes_with_manual_or_expert_reasons() -> None:
    manual, clock = make_sim(seed=3, strategy=RANDOM)
    clock.advance(120)
    manual.sync()
    opened = [e for e in manual.history if isinstance(e, PositionOpened)]
    assert opened
    assert {e.reason for e in opened} <= {0, 1, 2}
    assert {e.magic for e in opened} == {0}
    expert, clock = make_sim(
        seed=3, strategy=StrategySpec(kind="random", open_probability=0.05, magic=424242)
    )
    clock.advance(120)
    expert.sync()
    reasons = {e.reason for e in expert.history if isinstance(e, PositionOpened)}
    assert reasons == {mt5.POSITION_REASON_EXPERT}
    assert len(expert.positions_get() or ()) <= 5
