"""`copy_ticks_from` / `copy_ticks_range` return numpy structured arrays with the real
module's field names and dtypes; `as_ticks` (and so the agent) reads arrays and Tick tuples."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agents.terminal.mt5 import constants as c
from agents.terminal.mt5.structures import Tick
from agents.terminal.mt5.tick_array import TICK_DTYPE, as_ticks, tick_array
from agents.terminal.simulator import ManualClock, SimulatedTerminal, SimulatorSettings, mt5sim
from agents.terminal.simulator import events as sim_events
from bus.schemas import TickReceived
from tests.unit.test_agent_support import Rig, utc

REAL_DTYPE = [
    ("time", "<i8"),
    ("bid", "<f8"),
    ("ask", "<f8"),
    ("last", "<f8"),
    ("volume", "<u8"),
    ("time_msc", "<i8"),
    ("flags", "<u4"),
    ("volume_real", "<f8"),
]
"""`ticks.dtype` printed from a real 5.0.x terminal's `copy_ticks_range`."""


@pytest.fixture
def sim() -> SimulatedTerminal:
    made = SimulatedTerminal(SimulatorSettings(seed=4), ManualClock(1_767_693_600.0))
    assert made.initialize()
    made.clock.advance(1.0)  # type: ignore[attr-defined]
    return made


def _generated(sim: SimulatedTerminal, symbol: str) -> list[Tick]:
    return [e.tick for e in sim.history if isinstance(e, sim_events.TickGenerated)
            and e.symbol == symbol]  # fmt: skip


def test_copy_ticks_from_when_called_then_structured_array_with_real_dtype(
    sim: SimulatedTerminal,
) -> None:
    now = sim.symbol_info_tick("EURUSD")
    assert now is not None
    ticks = sim.copy_ticks_from("EURUSD", (now.time_msc - 300) / 1000, 10, c.COPY_TICKS_ALL)
    assert isinstance(ticks, np.ndarray)
    assert ticks.dtype == np.dtype(REAL_DTYPE)
    assert ticks.dtype.names == Tick._fields
    assert len(ticks) == 4
    assert ticks["time_msc"].tolist() == [t.time_msc for t in _generated(sim, "EURUSD")[-4:]]
    assert as_ticks(ticks)[-1] == now
    assert ticks[-1]["bid"] == now.bid
    assert ticks["time"][-1] == now.time_msc // 1000


def test_copy_ticks_when_nothing_in_range_then_empty_array_and_none_on_unknown_symbol(
    sim: SimulatedTerminal,
) -> None:
    later = sim.copy_ticks_from("EURUSD", 4_000_000_000, 10, c.COPY_TICKS_ALL)
    assert later is not None
    assert (len(later), later.dtype) == (0, TICK_DTYPE)
    assert sim.copy_ticks_range("EURUSD", 0, 1, c.COPY_TICKS_ALL) is not None
    assert sim.copy_ticks_from("NOPE", 0, 10, c.COPY_TICKS_ALL) is None
    assert sim.last_error()[0] == c.RES_E_NOT_FOUND


def test_copy_ticks_range_when_module_facade_then_array_like_the_real_module(
    sim: SimulatedTerminal,
) -> None:
    mt5sim.use(sim)
    try:
        now = mt5sim.symbol_info_tick("GBPUSD")
        assert now is not None
        ticks = mt5sim.copy_ticks_range("GBPUSD", (now.time_msc - 1000) / 1000,
                                        now.time_msc / 1000, mt5sim.COPY_TICKS_ALL)  # fmt: skip
        assert ticks is not None
        assert ticks.dtype == np.dtype(REAL_DTYPE)
        assert as_ticks(ticks) == tuple(_generated(sim, "GBPUSD")[-11:])
    finally:
        mt5sim.use(None)


def test_as_ticks_when_array_tuples_or_mappings_then_same_ticks() -> None:
    ticks = (Tick(1, 1.1, 1.2, 0.0, 0, 1000, 6, 0.0), Tick(2, 1.3, 1.4, 0.0, 3, 2000, 2, 1.5))
    array = tick_array(ticks)
    assert as_ticks(array) == ticks
    assert all(type(v) in (int, float) for v in as_ticks(array)[1])
    assert as_ticks(ticks) == ticks
    assert as_ticks([dict(t._asdict()) for t in ticks]) == ticks
    reordered = np.array([tuple(reversed(t)) for t in ticks], dtype=list(reversed(REAL_DTYPE)))
    assert as_ticks(reordered) == ticks  # read by name, not by position
    assert as_ticks(tick_array(())) == ()
    with pytest.raises(TypeError):
        as_ticks(np.zeros(3))


def _as_tuples(copy: Callable[..., Any]) -> Callable[..., Any]:
    def wrapped(*args: Any) -> Any:
        rows = copy(*args)
        return None if rows is None else as_ticks(rows)

    return wrapped


@pytest.mark.parametrize("shape", ["array", "tuples"])
async def test_agent_when_gap_filled_from_copy_ticks_from_then_every_tick_in_either_shape(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shape: str
) -> None:
    rig = Rig(tmp_path, utc("2026-01-06T10:00:00"), ("EURUSD",), fast=True, fast_steps=5)
    try:
        if shape == "tuples":  # the real adapter's shape
            monkeypatch.setattr(rig.sim, "copy_ticks_from", _as_tuples(rig.sim.copy_ticks_from))
        for _ in range(4):
            await rig.poll()
        sent = [t.server_time_msc for t in rig.of(TickReceived)]
        generated = [t.time_msc for t in _generated(rig.sim, "EURUSD")]
        assert len(sent) > 10
        assert sent == generated[generated.index(sent[0]) :]
    finally:
        rig.close()
