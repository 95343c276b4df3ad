"""The simulator's scripted trader with `risk_check`: requests instead of trades, fates from
the seed, orders that carry them out, adoption by comment, restarts."""

from __future__ import annotations

import pickle
from dataclasses import replace
from pathlib import Path
from typing import Any

from agents.terminal.mt5 import constants as c
from agents.terminal.simulator.clock import ManualClock
from agents.terminal.simulator.settings import DEFAULT_SYMBOLS, SimulatorSettings, StrategySpec
from agents.terminal.simulator.terminal import SimulatedTerminal
from agents.terminal.simulator.world import SimWorld

STRATEGY = StrategySpec(kind="random", open_probability=0.3, close_probability=0.0,
                        max_positions=50, volume_choices=(0.1,), sl_pips=30, tp_pips=60,
                        magic=424242, risk_check=True)  # fmt: skip
SETTINGS = SimulatorSettings(seed=9, symbols=DEFAULT_SYMBOLS[:1], strategy=STRATEGY)
EURUSD_PIP = 0.0001


def _terminal(settings: SimulatorSettings = SETTINGS) -> tuple[SimulatedTerminal, ManualClock]:
    clock = ManualClock()
    terminal = SimulatedTerminal(settings, clock)
    terminal.initialize()
    return terminal, clock


def _requests(seconds: float, settings: SimulatorSettings = SETTINGS) -> list[dict[str, Any]]:
    terminal, clock = _terminal(settings)
    taken: list[dict[str, Any]] = []
    for _ in range(int(seconds * 2)):
        clock.advance(0.5)
        taken.extend(terminal.take_trade_requests())
    return taken


def test_trader_when_risk_check_then_requests_not_trades_and_manual_ones_trade() -> None:
    terminal, clock = _terminal()
    clock.advance(20)
    requests = terminal.take_trade_requests()
    positions = terminal.positions_get() or ()
    assert requests, "the trader asked for checks"
    assert {r["fate"] for r in requests} <= {"checked", "slip", "volume", "sl", "unfilled"}
    assert all(r["client_order_id"].startswith("sim-") for r in requests)
    assert all(len(r["client_order_id"]) == 12 and r["client_order_id"].isascii()
               for r in requests)  # fmt: skip
    assert positions, "manual opens are traded at once"
    assert {p.reason for p in positions} <= {
        c.POSITION_REASON_CLIENT, c.POSITION_REASON_MOBILE, c.POSITION_REASON_WEB
    }  # fmt: skip
    assert all(p.magic == 0 for p in positions)


def test_trader_when_same_seed_then_same_requests_and_other_seed_others() -> None:
    first, again = _requests(30), _requests(30)
    assert first == again
    assert {r["fate"] for r in first} >= {"checked", "slip", "unfilled"}
    assert _requests(30, replace(SETTINGS, seed=10)) != first


def test_trader_when_risk_check_off_then_no_requests_and_the_old_trades() -> None:
    plain = replace(SETTINGS, strategy=replace(STRATEGY, risk_check=False))
    terminal, clock = _terminal(plain)
    clock.advance(20)
    assert not terminal.checks_orders
    assert terminal.take_trade_requests() == []
    positions = terminal.positions_get() or ()
    assert positions
    assert all(p.reason == c.POSITION_REASON_EXPERT and p.magic == 424242 for p in positions)


def test_request_when_stale_then_not_handed_out() -> None:
    terminal, clock = _terminal()
    clock.advance(30)  # one catch-up: requests older than 5 s of simulated time are stale
    fresh = terminal.take_trade_requests()
    assert fresh
    assert all(terminal.world.utc_msc - r["utc_msc"] <= 5_000 for r in fresh)


def _one(fate: str) -> tuple[SimulatedTerminal, dict[str, Any]]:
    terminal, clock = _terminal()
    for _ in range(400):
        clock.advance(0.5)
        for request in terminal.take_trade_requests():
            if request["fate"] == fate:
                return terminal, request
    raise AssertionError(f"no {fate} request")


def test_order_when_checked_then_as_checked_and_the_position_carries_the_id() -> None:
    terminal, request = _one("checked")
    order = terminal.checked_order(request["client_order_id"])
    assert order is not None
    assert order["comment"] == request["client_order_id"]
    assert order["volume"] == request["volume"]
    assert order["sl"] == request["sl"]
    assert order["tp"] == request["tp"]
    assert abs(order["price"] - request["price"]) < 2 * EURUSD_PIP
    result = terminal.order_send(order | {"type_filling": c.ORDER_FILLING_FOK})
    assert result is not None
    assert result.retcode == c.TRADE_RETCODE_DONE
    [pos] = [p for p in terminal.positions_get() or () if p.comment == order["comment"]]
    assert pos.magic == 424242
    assert pos.reason == c.POSITION_REASON_EXPERT
    assert pos.identifier in terminal.world.trader_tickets  # the trader's own: it may close it
    assert terminal.checked_order(request["client_order_id"]) is None  # no longer awaited


def test_order_when_slip_then_filled_slip_pips_from_the_checked_price() -> None:
    terminal, request = _one("slip")
    order = terminal.checked_order(request["client_order_id"])
    assert order is not None
    assert abs(order["price"] - request["price"]) / EURUSD_PIP >= STRATEGY.slip_pips - 1


def test_order_when_volume_or_sl_fate_then_sent_off_what_was_checked() -> None:
    terminal, request = _one("volume")
    order = terminal.checked_order(request["client_order_id"])
    assert order is not None
    assert order["volume"] == 2 * request["volume"]
    terminal, request = _one("sl")
    order = terminal.checked_order(request["client_order_id"])
    assert order is not None
    off = abs(order["sl"] - request["sl"]) / EURUSD_PIP
    assert round(off, 6) == STRATEGY.divergent_sl_pips


def test_world_when_pickled_without_requests_then_loads_with_none(tmp_path: Path) -> None:
    world = SimWorld(SETTINGS, 1_767_225_600_000)
    state = world.__getstate__()
    del state["trade_requests"], state["awaiting"]
    old = SimWorld.__new__(SimWorld)
    old.__setstate__(state)
    assert list(old.trade_requests) == []
    assert old.awaiting == {}
    assert pickle.loads(pickle.dumps(world)).awaiting == world.awaiting
