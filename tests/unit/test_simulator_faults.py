"""Simulator fault injection: IPC errors, disconnects, lost order replies, stale feeds,
equity drops; each confined to its window of simulated time."""

from __future__ import annotations

import pytest

from agents.terminal.simulator import (
    FaultEnded,
    FaultSpec,
    FaultStarted,
    ManualClock,
    SimulatedTerminal,
    SimulatorSettings,
)
from agents.terminal.simulator import mt5sim as mt5


def make_sim(*faults: FaultSpec) -> tuple[SimulatedTerminal, ManualClock]:
    clock = ManualClock()
    sim = SimulatedTerminal(SimulatorSettings(seed=11, faults=faults), clock)
    assert sim.initialize()
    return sim, clock


@pytest.mark.parametrize(
    ("kind", "code"),
    [
        ("ipc_error", mt5.RES_E_INTERNAL_FAIL_CONNECT),
        ("ipc_timeout", mt5.RES_E_INTERNAL_FAIL_TIMEOUT),
    ],
)
def test_ipc_fault_when_active_then_calls_return_none_with_code_and_recover_after(
    kind: str, code: int
) -> None:
    sim, clock = make_sim(FaultSpec(kind, start_s=2.0, duration_s=3.0))  # type: ignore[arg-type]
    clock.advance(1.0)
    assert sim.account_info() is not None
    assert sim.last_error() == (mt5.RES_S_OK, "Success")
    clock.advance(1.5)
    assert sim.account_info() is None
    assert sim.last_error()[0] == code
    assert sim.positions_get() is None
    assert sim.symbol_info_tick("EURUSD") is None
    assert sim.order_send({"action": 1, "symbol": "EURUSD", "volume": 0.1, "type": 0}) is None
    assert sim.last_error()[0] == code
    clock.advance(3.0)
    assert sim.account_info() is not None  # transient: no re-initialize needed
    assert sim.positions_get() == ()
    kinds = [
        (type(e).__name__, e.kind) for e in sim.history if isinstance(e, FaultStarted | FaultEnded)
    ]
    assert kinds == [("FaultStarted", kind), ("FaultEnded", kind)]


def test_ipc_fault_when_probability_partial_then_some_calls_fail_deterministically() -> None:
    fault = FaultSpec("ipc_error", start_s=0.0, duration_s=100.0, probability=0.3)
    outcomes = []
    for _ in range(2):
        sim, clock = make_sim(fault)
        run = []
        for _ in range(200):
            clock.advance(0.1)
            run.append(sim.account_info() is None)
        outcomes.append(run)
    assert outcomes[0] == outcomes[1]
    assert 20 < sum(outcomes[0]) < 100


def test_disconnect_when_active_then_no_ipc_and_initialize_needed_after_window() -> None:
    sim, clock = make_sim(FaultSpec("disconnect", start_s=1.0, duration_s=2.0))
    clock.advance(1.5)
    assert sim.terminal_info() is None
    assert sim.last_error() == (mt5.RES_E_INTERNAL_FAIL_CONNECT, "No IPC connection")
    assert sim.initialize() is False
    assert sim.last_error()[0] == mt5.RES_E_INTERNAL_FAIL_INIT
    clock.advance(2.0)
    assert sim.account_info() is None  # the session is gone until initialize() again
    assert sim.last_error()[0] == mt5.RES_E_INTERNAL_FAIL_CONNECT
    assert sim.initialize() is True
    info = sim.terminal_info()
    assert info is not None
    assert info.connected is True


def test_disconnect_when_position_hits_stop_meanwhile_then_close_deal_available_after() -> None:
    sim, clock = make_sim(FaultSpec("disconnect", start_s=1.0, duration_s=2.0))
    sim.set_price("EURUSD", 1.10000)
    pos = sim.open_position("EURUSD", mt5.POSITION_TYPE_BUY, 0.1, sl=1.09990)
    clock.advance(1.5)
    sim.set_price("EURUSD", 1.09000)  # the market moves on while the agent cannot see it
    clock.advance(2.0)
    assert sim.initialize()
    assert sim.positions_get() == ()
    _, out = sim.history_deals_get(position=pos.ticket) or ()
    assert out.reason == mt5.DEAL_REASON_SL


def test_order_send_none_when_active_then_none_and_nothing_executed() -> None:
    sim, clock = make_sim(FaultSpec("order_send_none", start_s=0.0, duration_s=5.0))
    request = {"action": 1, "symbol": "EURUSD", "volume": 0.1, "type": 0}
    assert sim.history[0] == FaultStarted(sim.now_msc, "order_send_none", None)
    assert sim.order_send(request) is None
    assert sim.last_error()[0] == mt5.RES_E_FAIL
    assert sim.positions_get() == ()  # other calls still work
    clock.advance(6.0)
    result = sim.order_send(request)
    assert result is not None
    assert result.retcode == mt5.TRADE_RETCODE_DONE


def test_stale_feed_when_active_then_symbol_frozen_others_move_and_orders_refused() -> None:
    sim, clock = make_sim(FaultSpec("stale_feed", start_s=1.0, duration_s=5.0, symbol="EURUSD"))
    clock.advance(1.0)
    frozen = sim.symbol_info_tick("EURUSD")
    gbp_before = sim.symbol_info_tick("GBPUSD")
    clock.advance(3.0)
    assert sim.symbol_info_tick("EURUSD") == frozen
    gbp_after = sim.symbol_info_tick("GBPUSD")
    assert gbp_before is not None
    assert gbp_after is not None
    assert gbp_after.time_msc == gbp_before.time_msc + 3000
    result = sim.order_send({"action": 1, "symbol": "EURUSD", "volume": 0.1, "type": 0})
    assert result is not None
    assert result.retcode == mt5.TRADE_RETCODE_MARKET_CLOSED
    clock.advance(3.0)
    fresh = sim.symbol_info_tick("EURUSD")
    assert fresh is not None
    assert frozen is not None
    assert fresh.time_msc > frozen.time_msc


def test_equity_drop_when_active_then_equity_reported_lower_and_balance_unchanged() -> None:
    sim, clock = make_sim(FaultSpec("equity_drop", start_s=1.0, duration_s=0.5, drop_percent=20.0))
    before = sim.account_info()
    clock.advance(1.2)
    during = sim.account_info()
    clock.advance(1.0)
    after = sim.account_info()
    assert before is not None
    assert during is not None
    assert after is not None
    assert during.balance == before.balance == 10_000.0
    assert during.equity == pytest.approx(8_000.0)
    assert during.profit == pytest.approx(-2_000.0)
    assert after.equity == pytest.approx(10_000.0)
