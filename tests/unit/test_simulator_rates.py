"""The simulator's `copy_rates_*`: bars made from the very ticks `copy_ticks_range` returns,
with the module's semantics, and the same bars the candles view makes of those ticks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from agents.terminal.mt5.rates import RATES_DTYPE
from agents.terminal.simulator import ManualClock, SimulatedTerminal, SimulatorSettings
from agents.terminal.simulator import mt5sim as mt5
from bus.schemas import TickReceived
from projections.candles import CandleBook


@pytest.fixture
def sim() -> Iterator[Any]:
    clock = ManualClock()
    terminal = SimulatedTerminal(SimulatorSettings(seed=3), clock)
    mt5.use(terminal)
    assert mt5.initialize()
    clock.advance(250.0)  # about four minutes of ticks
    assert mt5.symbol_info_tick("EURUSD") is not None
    yield terminal
    mt5.use(None)


def kept_ticks() -> Any:
    ticks = mt5.copy_ticks_range("EURUSD", 0, 2**31, mt5.COPY_TICKS_ALL)
    assert ticks is not None
    assert len(ticks) > 1000
    return ticks


def test_rates_range_when_asked_then_bars_of_the_kept_ticks(sim: Any) -> None:
    ticks = kept_ticks()
    rates = mt5.copy_rates_range("EURUSD", mt5.TIMEFRAME_M1, 0, 2**31)
    assert rates is not None
    assert rates.dtype == RATES_DTYPE
    assert int(rates["tick_volume"].sum()) == len(ticks)
    for bar in rates:
        start = int(bar["time"])
        times = ticks["time_msc"]
        inside = ticks[(times >= start * 1000) & (times < (start + 60) * 1000)]
        assert start % 60 == 0
        assert float(bar["open"]) == float(inside["bid"][0])
        assert float(bar["close"]) == float(inside["bid"][-1])
        assert float(bar["high"]) == float(inside["bid"].max())
        assert float(bar["low"]) == float(inside["bid"].min())
        assert int(bar["tick_volume"]) == len(inside)
    info = mt5.symbol_info("EURUSD")
    assert info is not None
    assert int(rates["spread"].min()) == round(
        float((ticks["ask"] - ticks["bid"]).min()) / info.point
    )


def test_rates_when_made_by_the_candles_view_then_the_same_bars(sim: Any) -> None:
    ticks = kept_ticks()
    book = CandleBook(lambda series, start: None)
    for t in ticks.tolist():
        book.apply(TickReceived(account_id="a", symbol="EURUSD", bid=t[1], ask=t[2], time_msc=t[5]))
    for tf, constant in (
        ("M1", mt5.TIMEFRAME_M1),
        ("M5", mt5.TIMEFRAME_M5),
        ("H1", mt5.TIMEFRAME_H1),
    ):
        rates = mt5.copy_rates_range("EURUSD", constant, 0, 2**31)
        assert rates is not None
        view = sorted((b for b in book.dirty.values() if b.tf == tf), key=lambda b: b.start_msc)
        made = [(b.start_msc // 1000, b.open, b.high, b.low, b.close, b.tick_volume) for b in view]
        assert made == [
            (int(r["time"]), float(r["open"]), float(r["high"]), float(r["low"]),
             float(r["close"]), int(r["tick_volume"]))
            for r in rates
        ]  # fmt: skip


def test_rates_from_and_from_pos_when_asked_then_module_semantics(sim: Any) -> None:
    every = mt5.copy_rates_range("EURUSD", mt5.TIMEFRAME_M1, 0, 2**31)
    assert every is not None
    assert len(every) >= 4
    last_two = mt5.copy_rates_from_pos("EURUSD", mt5.TIMEFRAME_M1, 0, 2)
    assert last_two is not None
    assert np.array_equal(last_two, every[-2:])  # position 0 is the current bar
    before = mt5.copy_rates_from_pos("EURUSD", mt5.TIMEFRAME_M1, 1, 2)
    assert np.array_equal(before, every[-3:-1])  # type: ignore[arg-type]
    second = int(every["time"][1])
    upto = mt5.copy_rates_from("EURUSD", mt5.TIMEFRAME_M1, second + 30, 5)
    assert np.array_equal(upto, every[:2])  # type: ignore[arg-type]
    ranged = mt5.copy_rates_range("EURUSD", mt5.TIMEFRAME_M1, second, second)
    assert ranged is not None
    assert [int(t) for t in ranged["time"]] == [second]


def test_rates_when_timeframe_or_symbol_unknown_then_none_and_the_error(sim: Any) -> None:
    assert mt5.copy_rates_range("EURUSD", mt5.TIMEFRAME_W1, 0, 2**31) is None
    assert mt5.last_error()[0] == mt5.RES_E_INVALID_PARAMS
    assert mt5.copy_rates_from_pos("NOPE", mt5.TIMEFRAME_M1, 0, 10) is None
