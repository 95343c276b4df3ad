"""A persistent simulated world: a restarted simulator continues the same timeline."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.terminal.mt5 import constants as c
from agents.terminal.simulator import events as sim
from agents.terminal.simulator.clock import ManualClock
from agents.terminal.simulator.market import SymbolFeed
from agents.terminal.simulator.persistence import WorldJournal, snapshot_path
from agents.terminal.simulator.settings import DEFAULT_SYMBOLS, SimulatorSettings, StrategySpec
from agents.terminal.simulator.terminal import SimulatedTerminal

SETTINGS = SimulatorSettings(
    seed=11,
    tick_interval_ms=100,
    symbols=DEFAULT_SYMBOLS[:2],
    strategy=StrategySpec(
        kind="random", open_probability=0.2, close_probability=0.02, max_positions=4,
        sl_pips=4, tp_pips=6,
    ),
)  # fmt: skip


def _world(t: SimulatedTerminal) -> tuple[object, ...]:
    t.sync()
    return (
        t.now_msc,
        t.positions_get(),
        t.deals,
        t.account_info(),
        t.symbol_info_tick("EURUSD"),
        t.trading_state,
    )


def _close_first(t: SimulatedTerminal) -> int:
    pos = t.positions_get()[0]  # type: ignore[index]
    tick = t.symbol_info_tick(pos.symbol)
    assert tick is not None
    result = t.order_send({
        "action": c.TRADE_ACTION_DEAL, "symbol": pos.symbol, "volume": pos.volume,
        "type": c.ORDER_TYPE_SELL if pos.type == c.POSITION_TYPE_BUY else c.ORDER_TYPE_BUY,
        "position": pos.ticket, "price": tick.bid if pos.type == 0 else tick.ask,
        "deviation": 50,
    })  # fmt: skip
    assert result is not None
    assert result.retcode == c.TRADE_RETCODE_DONE
    return int(pos.ticket)


@pytest.mark.parametrize("use_snapshot", [True, False])
def test_persistent_world_when_restarted_later_then_same_world_as_if_never_stopped(
    tmp_path: Path, use_snapshot: bool
) -> None:
    path = tmp_path / "sim-a.jsonl"
    clock = ManualClock()
    first = SimulatedTerminal.persistent(SETTINGS, path, clock)
    reference = SimulatedTerminal(SETTINGS, clock)  # never stops; gets the same calls
    for t in (first, reference):
        t.initialize()
    for _ in range(3):
        clock.advance(20.0)
        assert _close_first(first) == _close_first(reference)
    first.set_trading_state("HALTED")
    reference.set_trading_state("HALTED")
    clock.advance(65.0)  # past a snapshot
    first.sync()
    assert snapshot_path(path).is_file()
    first.set_trading_state("ACTIVE")
    reference.set_trading_state("ACTIVE")
    clock.advance(20.0)
    assert _close_first(first) == _close_first(reference)
    del first  # the agent process dies

    clock.advance(30.0)  # down for 30 s of market time
    second = SimulatedTerminal.persistent(SETTINGS, path, clock, use_snapshot=use_snapshot)
    second.initialize()
    assert _world(second) == _world(reference)
    assert second.caught_up_steps == (500 if use_snapshot else 1750)
    closed = [e for e in second.history if isinstance(e, sim.PositionClosed)]
    assert closed, "positions were closed while the agent was down"


def test_persistent_world_when_settings_change_then_a_new_world_starts(tmp_path: Path) -> None:
    path = tmp_path / "sim-b.jsonl"
    clock = ManualClock()
    first = SimulatedTerminal.persistent(SETTINGS, path, clock)
    first.initialize()
    clock.advance(10.0)
    first.sync()
    clock.advance(5.0)
    other = SimulatedTerminal.persistent(SimulatorSettings(seed=12), path, clock)
    assert other.world.origin_msc == int(clock.now() * 1000)
    assert WorldJournal.read(path).origin_msc == other.world.origin_msc


def test_journal_when_last_line_torn_then_it_is_dropped_and_the_rest_replayed(
    tmp_path: Path,
) -> None:
    path = tmp_path / "sim-c.jsonl"
    clock = ManualClock()
    first = SimulatedTerminal.persistent(SETTINGS, path, clock)
    first.initialize()
    clock.advance(20.0)
    ticket = _close_first(first)
    with path.open("a", encoding="utf-8") as fh:
        fh.write('{"step": 5, "ord')  # killed mid-write
    second = SimulatedTerminal.persistent(SETTINGS, path, clock)
    second.initialize()
    assert second.positions_get(ticket=ticket) == ()
    assert len(WorldJournal.read(path).entries) == 1
    assert path.read_text(encoding="utf-8").endswith("\n")


def test_halted_when_set_then_scripted_trader_opens_nothing_until_active() -> None:
    t = SimulatedTerminal(SETTINGS, ManualClock())
    t.initialize()
    for state in ("HALTED", "REDUCING"):
        t.set_trading_state(state)
        before = len([e for e in t.history if isinstance(e, sim.PositionOpened)])
        t.advance(300)
        assert len([e for e in t.history if isinstance(e, sim.PositionOpened)]) == before
    t.set_trading_state("ACTIVE")
    before = len([e for e in t.history if isinstance(e, sim.PositionOpened)])
    t.advance(300)
    assert len([e for e in t.history if isinstance(e, sim.PositionOpened)]) > before
    with pytest.raises(ValueError, match="unknown trading state"):
        t.set_trading_state("PAUSED")


def test_ticks_from_when_asked_for_recent_ticks_then_oldest_first_within_count() -> None:
    feed = SymbolFeed(DEFAULT_SYMBOLS[0], seed=1)
    for msc in range(1000, 2000, 10):
        feed.step(msc)
    assert [t.time_msc for t in feed.ticks_from(1950, 100)] == list(range(1950, 2000, 10))
    assert [t.time_msc for t in feed.ticks_from(1955, 2)] == [1960, 1970]
    assert [t.time_msc for t in feed.ticks_from(0, 3)] == [1000, 1010, 1020]
    assert feed.ticks_from(5000, 10) == ()
    assert feed.ticks_from(0, 0) == ()
