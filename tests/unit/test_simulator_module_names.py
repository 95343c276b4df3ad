"""The simulator as a drop-in `MetaTrader5`: every public name of the real module (5.0.6231,
read from the Windows wheel into tests/data/metatrader5_names.json) exists, constants with
the same values; the functions the agent does not need behave as the module's do."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agents.terminal.simulator import ManualClock, SimulatedTerminal, SimulatorSettings
from agents.terminal.simulator import mt5sim as mt5

NAMES: dict[str, Any] = json.loads(
    (Path(__file__).parents[1] / "data" / "metatrader5_names.json").read_text()
)


def test_module_when_compared_with_real_wheel_then_no_public_name_missing() -> None:
    missing = [
        name
        for name in [*NAMES["constants"], *NAMES["python_functions"], *NAMES["core_functions"]]
        if not hasattr(mt5, name)
    ]
    assert missing == []


def test_module_constants_when_compared_with_real_wheel_then_same_values() -> None:
    wrong = {k: (getattr(mt5, k), v) for k, v in NAMES["constants"].items() if getattr(mt5, k) != v}
    assert wrong == {}


@pytest.fixture
def sim() -> Any:
    terminal = SimulatedTerminal(SimulatorSettings(seed=2), ManualClock())
    mt5.use(terminal)
    assert mt5.initialize()
    yield terminal
    mt5.use(None)


def test_positions_get_when_filters_keyword_only_then_symbol_wins_over_ticket(sim: Any) -> None:
    eur = mt5.Buy("EURUSD", 0.1)
    gbp = mt5.Sell("USDJPY", 0.1)  # (the module's Sell sends no filling: FOK, so not GBPUSD)
    assert eur is not None
    assert gbp is not None
    with pytest.raises(TypeError):
        mt5.positions_get("EURUSD")  # type: ignore[call-arg]
    assert gbp.retcode == mt5.TRADE_RETCODE_DONE
    got = mt5.positions_get(symbol="EURUSD", ticket=gbp.order) or ()
    assert [p.symbol for p in got] == ["EURUSD"]
    assert [p.ticket for p in mt5.positions_get(ticket=gbp.order) or ()] == [gbp.order]


def test_symbols_when_selected_and_hidden_then_symbol_info_says_so(sim: Any) -> None:
    assert mt5.symbols_total() == 4
    assert [s.name for s in mt5.symbols_get("*USD,!XAU*") or ()] == ["EURUSD", "GBPUSD"]
    assert mt5.symbol_select("EURUSD", False)
    info = mt5.symbol_info("EURUSD")
    assert info is not None
    assert (info.select, info.visible) == (False, False)
    assert mt5.symbol_select("EURUSD", True)
    assert mt5.symbol_info("EURUSD").visible  # type: ignore[union-attr]


def test_orders_and_checks_when_market_only_simulator_then_history_and_check_work(
    sim: Any,
) -> None:
    assert mt5.orders_total() == 0
    assert mt5.orders_get() == ()
    check = mt5.order_check({"action": mt5.TRADE_ACTION_DEAL, "symbol": "GBPUSD",
                             "volume": 0.1, "type": mt5.ORDER_TYPE_BUY})  # fmt: skip
    assert check is not None
    assert check.retcode == mt5.TRADE_RETCODE_INVALID_FILL  # GBPUSD is IOC only
    assert mt5.order_calc_margin(mt5.ORDER_TYPE_BUY, "EURUSD", 1.0, 1.1) == 1100.0
    assert mt5.order_calc_profit(mt5.ORDER_TYPE_BUY, "EURUSD", 1.0, 1.1, 1.101) == 100.0
    result = mt5.Buy("EURUSD", 0.2, comment="mtq-1")
    assert result is not None
    orders = mt5.history_orders_get(position=result.order) or ()
    assert [(o.ticket, o.state) for o in orders] == [(result.order, mt5.ORDER_STATE_FILLED)]
    assert mt5.history_deals_total(0, 2**31) == 2  # the deposit and the buy
    assert mt5.Close("EURUSD") is True
    assert mt5.positions_total() == 0


def test_copy_ticks_range_and_unsupported_calls_when_called_then_module_semantics(
    sim: Any,
) -> None:
    sim.clock.advance(1.0)
    now = sim.symbol_info_tick("EURUSD").time_msc
    ticks = mt5.copy_ticks_range("EURUSD", (now - 500) / 1000, now / 1000, mt5.COPY_TICKS_ALL)
    assert ticks is not None
    assert len(ticks) == 6
    assert all(now - 500 <= t <= now for t in ticks["time_msc"].tolist())
    assert mt5.market_book_add("EURUSD") is False
    assert mt5.last_error()[0] == mt5.RES_E_UNSUPPORTED
