"""The simulator refuses what a real terminal refuses on the order paths: stops and freeze
levels, closed sessions, AutoTrading off, no trade server, symbols outside Market Watch, and
keeps pending orders (orders_get, filled by the quote, expired at their time)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agents.terminal.mt5 import constants as c
from agents.terminal.mt5.structures import OrderSendResult
from agents.terminal.simulator import ManualClock, SimulatedTerminal, SimulatorSettings
from agents.terminal.simulator.persistence import WorldJournal
from agents.terminal.simulator.sessions import FOREX_WEEK
from agents.terminal.simulator.settings import DEFAULT_SYMBOLS, FaultSpec, SymbolSpec

TUESDAY = datetime(2026, 1, 6, 10, tzinfo=UTC).timestamp()
SATURDAY = datetime(2026, 1, 10, 10, tzinfo=UTC).timestamp()
EURUSD = DEFAULT_SYMBOLS[0]


def make(
    *, start: float = TUESDAY, spec: SymbolSpec = EURUSD, **settings: Any
) -> tuple[SimulatedTerminal, ManualClock]:
    clock = ManualClock(start)
    sim = SimulatedTerminal(SimulatorSettings(seed=3, symbols=(spec,), **settings), clock)
    assert sim.initialize()
    return sim, clock


def send(sim: SimulatedTerminal, **fields: Any) -> OrderSendResult:
    request = {"action": c.TRADE_ACTION_DEAL, "symbol": "EURUSD", "volume": 0.1,
               "type": c.ORDER_TYPE_BUY, "type_filling": c.ORDER_FILLING_FOK, **fields}  # fmt: skip
    result = sim.order_send(request)
    assert result is not None
    return result


def ask(sim: SimulatedTerminal) -> float:
    tick = sim.symbol_info_tick("EURUSD")
    assert tick is not None
    return float(tick.ask)


def bid(sim: SimulatedTerminal) -> float:
    tick = sim.symbol_info_tick("EURUSD")
    assert tick is not None
    return float(tick.bid)


# --- stops and freeze levels ------------------------------------------------------------------


def test_open_when_sl_inside_stops_level_then_10016_and_outside_then_done() -> None:
    sim, _ = make(spec=replace(EURUSD, stops_level=50))
    info = sim.symbol_info("EURUSD")
    assert info is not None
    assert info.trade_stops_level == 50
    near = send(sim, sl=round(bid(sim) - 0.00040, 5))
    assert (near.retcode, near.comment) == (c.TRADE_RETCODE_INVALID_STOPS, "Invalid stops")
    far = send(sim, sl=round(bid(sim) - 0.00060, 5))
    assert far.retcode == c.TRADE_RETCODE_DONE


def test_sltp_when_stop_within_freeze_level_then_10029_frozen() -> None:
    sim, _ = make(spec=replace(EURUSD, freeze_level=30))
    opened = send(sim, sl=round(bid(sim) - 0.00020, 5))
    assert opened.retcode == c.TRADE_RETCODE_DONE
    (pos,) = sim.positions_get() or ()
    sl = round(bid(sim) - 0.00100, 5)
    moved = sim.order_send({"action": c.TRADE_ACTION_SLTP, "symbol": "EURUSD",
                            "position": pos.ticket, "sl": sl})  # fmt: skip
    assert moved is not None
    assert moved.retcode == c.TRADE_RETCODE_FROZEN
    (still,) = sim.positions_get() or ()
    assert still.sl == pos.sl


# --- sessions, AutoTrading, trade server ----------------------------------------------------


def test_order_when_outside_sessions_then_10018_market_closed_and_inside_then_done() -> None:
    weekend, _ = make(start=SATURDAY, spec=replace(EURUSD, sessions=FOREX_WEEK))
    closed = send(weekend)
    assert (closed.retcode, closed.comment) == (c.TRADE_RETCODE_MARKET_CLOSED, "Market closed")
    assert weekend.positions_get() == ()
    weekday, _ = make(start=TUESDAY, spec=replace(EURUSD, sessions=FOREX_WEEK))
    assert send(weekday).retcode == c.TRADE_RETCODE_DONE


def test_order_when_autotrading_disabled_then_10027_and_terminal_info_says_so() -> None:
    sim, clock = make(faults=(FaultSpec("autotrading_disabled", start_s=0.0, duration_s=5.0),))
    info = sim.terminal_info()
    assert info is not None
    assert info.trade_allowed is False
    refused = send(sim)
    assert (refused.retcode, refused.comment) == (c.TRADE_RETCODE_CLIENT_DISABLES_AT,
                                                  "AutoTrading disabled by client")  # fmt: skip
    clock.advance(6.0)
    assert send(sim).retcode == c.TRADE_RETCODE_DONE


def test_order_when_trade_server_disconnected_then_10031_and_not_connected() -> None:
    sim, _ = make(faults=(FaultSpec("trade_server_disconnect", start_s=0.0, duration_s=5.0),))
    info = sim.terminal_info()
    assert info is not None
    assert info.connected is False
    assert sim.account_info() is not None  # the terminal itself still answers
    refused = send(sim)
    assert refused.retcode == c.TRADE_RETCODE_CONNECTION
    assert sim.positions_get() == ()


def test_filling_when_unsupported_then_10030_with_the_terminals_text() -> None:
    sim, _ = make()
    refused = send(sim, type_filling=c.ORDER_FILLING_IOC)  # EURUSD allows FOK only
    assert (refused.retcode, refused.comment) == (c.TRADE_RETCODE_INVALID_FILL,
                                                  "Unsupported filling mode")  # fmt: skip


# --- Market Watch -----------------------------------------------------------------------------


def test_symbol_when_not_in_market_watch_then_fails_until_symbol_select() -> None:
    sim, _ = make(hidden_symbols=("EURUSD",))
    info = sim.symbol_info("EURUSD")
    assert info is not None
    assert info.select is False
    assert sim.symbol_info_tick("EURUSD") is None
    assert sim.last_error()[0] == c.RES_E_NOT_FOUND
    assert send(sim).retcode == c.TRADE_RETCODE_INVALID
    assert sim.symbol_select("EURUSD", True)
    assert send(sim).retcode == c.TRADE_RETCODE_DONE


# --- pending orders ---------------------------------------------------------------------------


def pending(sim: SimulatedTerminal, type_: int, price: float, **fields: Any) -> OrderSendResult:
    return send(sim, action=c.TRADE_ACTION_PENDING, type=type_, price=price,
                comment="mtq-0badc0de", **fields)  # fmt: skip


def test_pending_when_buy_limit_reached_then_filled_under_its_ticket_and_leaves_orders() -> None:
    sim, _ = make()
    price = round(ask(sim) - 0.00100, 5)
    placed = pending(sim, c.ORDER_TYPE_BUY_LIMIT, price)
    assert (placed.retcode, placed.deal) == (c.TRADE_RETCODE_PLACED, 0)
    (order,) = sim.orders_get() or ()
    assert (order.ticket, order.comment, order.state) == (placed.order, "mtq-0badc0de",
                                                          c.ORDER_STATE_PLACED)  # fmt: skip
    assert sim.orders_total() == 1
    assert sim.positions_get() == ()
    sim.set_price("EURUSD", round(price - 0.00020, 5))
    sim.advance()
    assert sim.orders_get() == ()
    (pos,) = sim.positions_get() or ()
    assert (pos.ticket, pos.comment, pos.type) == (placed.order, "mtq-0badc0de",
                                                   c.POSITION_TYPE_BUY)  # fmt: skip
    (deal,) = [d for d in sim.deals if d.comment == "mtq-0badc0de"]
    assert (deal.order, deal.position_id) == (placed.order, pos.identifier)
    history = sim.history_orders_get(ticket=placed.order) or ()
    assert [o.state for o in history] == [c.ORDER_STATE_FILLED]


def test_pending_when_expiration_passes_then_gone_from_orders_and_expired_in_history() -> None:
    sim, clock = make()
    expiration = sim.now_msc // 1000 + 10
    placed = pending(sim, c.ORDER_TYPE_SELL_LIMIT, round(bid(sim) + 0.01, 5),
                     type_time=c.ORDER_TIME_SPECIFIED, expiration=expiration)  # fmt: skip
    assert placed.retcode == c.TRADE_RETCODE_PLACED
    (order,) = sim.orders_get(symbol="EURUSD") or ()
    assert order.time_expiration == expiration
    clock.advance(11.0)
    assert sim.orders_get() == ()
    (done,) = sim.history_orders_get(0, 2**40) or ()
    assert (done.ticket, done.state) == (placed.order, c.ORDER_STATE_EXPIRED)
    assert sim.positions_get() == ()


def test_pending_when_price_wrong_side_or_expiry_past_then_10015_and_10022() -> None:
    sim, _ = make()
    wrong = pending(sim, c.ORDER_TYPE_BUY_LIMIT, round(ask(sim) + 0.001, 5))
    assert wrong.retcode == c.TRADE_RETCODE_INVALID_PRICE
    gone = sim.now_msc // 1000 - 1
    past = pending(sim, c.ORDER_TYPE_BUY_STOP, round(ask(sim) + 0.001, 5),
                   type_time=c.ORDER_TIME_SPECIFIED, expiration=gone)  # fmt: skip
    assert past.retcode == c.TRADE_RETCODE_INVALID_EXPIRATION
    assert sim.orders_get() == ()


# --- the journal keeps what orders depend on --------------------------------------------------


def test_journal_when_rebuilt_then_selected_symbol_pending_order_and_its_fill_are_back(
    tmp_path: Path,
) -> None:
    settings = SimulatorSettings(seed=3, symbols=(EURUSD,), hidden_symbols=("EURUSD",))
    clock = ManualClock(TUESDAY)
    path = tmp_path / "sim.jsonl"
    sim = SimulatedTerminal.persistent(settings, path, clock)
    assert sim.initialize()
    assert sim.symbol_select("EURUSD", True)
    price = round(ask(sim) - 0.00100, 5)
    placed = pending(sim, c.ORDER_TYPE_BUY_LIMIT, price)
    assert placed.retcode == c.TRADE_RETCODE_PLACED
    clock.advance(5.0)
    rebuilt = SimulatedTerminal(settings, ManualClock(clock.now()),
                                journal=WorldJournal.read(path), use_snapshot=False)  # fmt: skip
    assert rebuilt.initialize()
    assert rebuilt.orders_get() == sim.orders_get()
    (order,) = rebuilt.orders_get() or ()
    assert order.ticket == placed.order
    info = rebuilt.symbol_info("EURUSD")
    assert info is not None
    assert info.select is True
