"""The simulator enforces what real brokers enforce: filling modes, execution modes, comment
rules, position identity across rollover re-opens, commission and swap, server time."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from agents.terminal.mt5.tick_array import as_ticks
from agents.terminal.simulator import ManualClock, SimulatedTerminal, SimulatorSettings
from agents.terminal.simulator import mt5sim as mt5
from agents.terminal.simulator.server_time import ServerTime


def make_sim(
    start: float = 1_767_225_600.0, **overrides: Any
) -> tuple[SimulatedTerminal, ManualClock]:
    clock = ManualClock(start)
    sim = SimulatedTerminal(SimulatorSettings(seed=5, **overrides), clock)
    assert sim.initialize()
    return sim, clock


def deal(
    symbol: str, type_: int = mt5.ORDER_TYPE_BUY, volume: float = 0.1, **extra: Any
) -> dict[str, Any]:
    return {"action": mt5.TRADE_ACTION_DEAL, "symbol": symbol, "volume": volume, "type": type_,
            **extra}  # fmt: skip


def utc(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


# --- filling and execution modes ------------------------------------------------------------


def test_symbol_info_when_demo_symbols_then_filling_and_execution_modes_differ() -> None:
    sim, _ = make_sim()
    modes = {s: (sim.symbol_info(s).filling_mode, sim.symbol_info(s).trade_exemode)  # type: ignore[union-attr]
             for s in ("EURUSD", "GBPUSD", "USDJPY", "XAUUSD")}  # fmt: skip
    assert modes == {
        "EURUSD": (1, mt5.SYMBOL_TRADE_EXECUTION_MARKET),
        "GBPUSD": (2, mt5.SYMBOL_TRADE_EXECUTION_MARKET),
        "USDJPY": (3, mt5.SYMBOL_TRADE_EXECUTION_MARKET),
        "XAUUSD": (2, mt5.SYMBOL_TRADE_EXECUTION_INSTANT),
    }


@pytest.mark.parametrize(
    ("symbol", "filling", "retcode"),
    [
        ("EURUSD", mt5.ORDER_FILLING_FOK, mt5.TRADE_RETCODE_DONE),
        ("EURUSD", mt5.ORDER_FILLING_IOC, mt5.TRADE_RETCODE_INVALID_FILL),
        ("GBPUSD", mt5.ORDER_FILLING_IOC, mt5.TRADE_RETCODE_DONE),
        ("GBPUSD", mt5.ORDER_FILLING_FOK, mt5.TRADE_RETCODE_INVALID_FILL),
        ("USDJPY", mt5.ORDER_FILLING_IOC, mt5.TRADE_RETCODE_DONE),
        ("USDJPY", mt5.ORDER_FILLING_RETURN, mt5.TRADE_RETCODE_INVALID_FILL),
        ("XAUUSD", mt5.ORDER_FILLING_RETURN, mt5.TRADE_RETCODE_DONE),  # instant: any filling
    ],
)
def test_order_send_when_filling_not_in_symbol_modes_under_market_execution_then_10030(
    symbol: str, filling: int, retcode: int
) -> None:
    sim, _ = make_sim()
    result = sim.order_send(deal(symbol, type_filling=filling))
    assert result is not None
    assert result.retcode == retcode
    assert len(sim.positions_get() or ()) == (retcode == mt5.TRADE_RETCODE_DONE)
    if retcode == mt5.TRADE_RETCODE_INVALID_FILL:
        assert result.comment == "Unsupported filling mode"


def test_order_send_when_price_moved_then_requote_only_under_instant_execution() -> None:
    sim, _ = make_sim()
    gold, eur = sim.symbol_info_tick("XAUUSD"), sim.symbol_info_tick("EURUSD")
    assert gold is not None
    assert eur is not None
    stale_gold = deal("XAUUSD", price=gold.ask - 5.0, deviation=10)
    assert sim.order_send(stale_gold).retcode == mt5.TRADE_RETCODE_REQUOTE  # type: ignore[union-attr]
    market = sim.order_send(deal("EURUSD", price=eur.ask - 0.01, deviation=10))
    assert market is not None
    assert (market.retcode, market.price) == (mt5.TRADE_RETCODE_DONE, eur.ask)


# --- comments -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "comment",
    ["x" * 40, "mtq daily loss limit breached a", "x" * 32, "mtq schließen"],
)
def test_order_send_when_comment_long_or_not_ascii_then_none_with_invalid_comment_argument(
    comment: str,
) -> None:
    sim, _ = make_sim()
    assert sim.order_send(deal("EURUSD", comment=comment)) is None
    assert sim.last_error() == (mt5.RES_E_INVALID_PARAMS, 'Invalid "comment" argument')
    assert sim.positions_get() == ()


def test_order_send_when_comment_short_ascii_token_then_accepted() -> None:
    sim, _ = make_sim()
    result = sim.order_send(deal("EURUSD", comment="mtq-1f2e3d4c"))
    assert result is not None
    assert result.retcode == mt5.TRADE_RETCODE_DONE


# --- position identity, commission and swap ---------------------------------------------------


def test_rollover_when_reopen_then_new_ticket_same_identifier_and_deals_by_identifier() -> None:
    sim, _ = make_sim()
    opened = sim.order_send(deal("EURUSD", volume=1.0))
    assert opened is not None
    (before,) = sim.positions_get() or ()
    sim.rollover(reopen=True)
    (after,) = sim.positions_get() or ()
    assert after.ticket != before.ticket
    assert after.identifier == before.identifier == before.ticket
    assert after.swap == pytest.approx(-7.2)  # one night of EURUSD's -7.2 points per lot
    assert sim.positions_get(ticket=before.ticket) == ()
    close = deal("EURUSD", mt5.ORDER_TYPE_SELL, 1.0, position=after.ticket)
    assert sim.order_send(close).retcode == mt5.TRADE_RETCODE_DONE  # type: ignore[union-attr]
    deals = sim.history_deals_get(position=after.identifier) or ()
    assert [(d.entry, d.position_id) for d in deals] == [
        (mt5.DEAL_ENTRY_IN, before.identifier),
        (mt5.DEAL_ENTRY_OUT, before.identifier),
    ]
    assert sim.history_deals_get(position=after.ticket) == ()
    assert deals[1].swap == pytest.approx(-7.2)


def test_account_when_commission_and_swap_charged_then_balance_is_sum_over_deals() -> None:
    # 2026-01-07 is a Wednesday: its rollover charges three nights.
    sim, clock = make_sim(start=utc("2026-01-07T23:59:00"), tick_interval_ms=1_000)
    assert sim.order_send(deal("EURUSD", volume=2.0)) is not None
    (pos,) = sim.positions_get() or ()
    clock.advance(120)  # past the server's midnight
    (pos,) = sim.positions_get() or ()
    assert pos.swap == pytest.approx(3 * -7.2 * 2)
    account = sim.account_info()
    assert account is not None
    assert account.balance == pytest.approx(10_000 - 7.0)  # entry commission 3.5 x 2 lots
    assert account.equity == pytest.approx(account.balance + pos.profit + pos.swap, abs=0.01)
    close = deal("EURUSD", mt5.ORDER_TYPE_SELL, 2.0, position=pos.ticket)
    assert sim.order_send(close).retcode == mt5.TRADE_RETCODE_DONE  # type: ignore[union-attr]
    deals = sim.history_deals_get(position=pos.identifier) or ()
    realized = sum(d.profit + d.commission + d.swap + d.fee for d in deals)
    assert [d.commission for d in deals] == [-7.0, -7.0]
    account = sim.account_info()
    assert account is not None
    assert account.balance == pytest.approx(10_000 + realized)


def test_rollover_when_weekend_nights_then_no_swap() -> None:
    sim, clock = make_sim(start=utc("2026-01-09T23:59:00"), tick_interval_ms=60_000)  # Friday
    sim.order_send(deal("EURUSD", volume=1.0))
    clock.advance(120)  # Friday's rollover: one night
    assert sim.positions_get()[0].swap == pytest.approx(-7.2)  # type: ignore[index]
    clock.advance(2 * 86_400)  # Saturday and Sunday nights
    assert sim.positions_get()[0].swap == pytest.approx(-7.2)  # type: ignore[index]


# --- server time ----------------------------------------------------------------------------


def test_server_time_when_new_york_close_server_then_us_dst_moves_it_from_utc2_to_utc3() -> None:
    server = ServerTime("America/New_York", 7)
    hour = 3_600_000
    before = int(utc("2026-03-08T06:00:00") * 1000)  # 01:00 EST
    after = int(utc("2026-03-08T07:00:00") * 1000)  # 03:00 EDT
    assert server.offset_ms(before) == 2 * hour
    assert server.offset_ms(after) == 3 * hour
    athens = ServerTime("Europe/Athens")  # EU rules: still UTC+2 until 2026-03-29
    assert athens.offset_ms(after) == 2 * hour
    assert athens.offset_ms(int(utc("2026-03-29T01:00:00") * 1000)) == 3 * hour


def test_ticks_positions_and_deals_when_server_at_utc3_then_stamped_in_server_time() -> None:
    start = utc("2026-03-10T12:00:00")  # New York close server: UTC+3 since 2026-03-08
    sim, _ = make_sim(start=start, server_timezone="America/New_York", server_shift_h=7)
    tick = sim.symbol_info_tick("EURUSD")
    assert tick is not None
    three_hours = 3 * 3_600_000
    assert tick.time_msc == int(start * 1000) + three_hours
    assert tick.time == tick.time_msc // 1000
    result = sim.order_send(deal("EURUSD"))
    assert result is not None
    (pos,) = sim.positions_get() or ()
    assert pos.time_msc == int(start * 1000) + three_hours
    (into,) = sim.history_deals_get(position=pos.identifier) or ()
    assert into.time_msc == pos.time_msc
    ticks = sim.copy_ticks_from("EURUSD", tick.time_msc / 1000, 10, mt5.COPY_TICKS_ALL)
    assert ticks is not None
    assert as_ticks(ticks)[-1] == tick
