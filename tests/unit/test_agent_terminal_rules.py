"""The agent against a strict simulator, without NATS: filling modes, comments, position
identity across rollover re-opens, realized P/L from deals, and one clock (true UTC on the
wire) for a server at UTC+3 across the March weeks where US and EU DST differ."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agents.command_executor import filling_for, order_comment
from agents.terminal.mt5 import constants as c
from agents.terminal.simulator import events as sim_events
from bus.schemas import (
    ClosePosition,
    OrderExecuted,
    OrderRejected,
    PositionClosed,
    PositionModified,
    PositionOpened,
    TickReceived,
)
from tests.unit.test_agent_support import HOUR_MS, Rig, utc


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    made = Rig(tmp_path, utc("2026-01-06T10:00:00"), ("EURUSD", "GBPUSD"))
    yield made
    made.close()


# --- filling and comments -------------------------------------------------------------------


@pytest.mark.parametrize(("symbol", "filling"), [("EURUSD", c.ORDER_FILLING_FOK),
                                                 ("GBPUSD", c.ORDER_FILLING_IOC)])  # fmt: skip
async def test_close_when_symbol_allows_one_filling_mode_then_that_mode_sent_and_filled(
    rig: Rig, symbol: str, filling: int
) -> None:
    ticket = rig.sim.open_position(symbol, c.POSITION_TYPE_BUY, 0.1).ticket
    await rig.poll()
    reason = "daily loss limit breached at equity 9,412.50 (über Limit)"
    command = ClosePosition(command_id="3f9a1c2e-77b0-4d1e-9a55-0c1d2e3f4a5b", account_id="rules",
                            ticket=ticket, reason=reason)  # fmt: skip
    await rig.agent.executor.handle(command)
    (result,) = rig.of(OrderExecuted)
    assert (result.ticket, result.retcode) == (ticket, c.TRADE_RETCODE_DONE)
    (sent,) = [e for e in rig.sim.history if isinstance(e, sim_events.OrderHandled)]
    assert sent.request["type_filling"] == filling
    assert sent.request["comment"] == "mtq-3f9a1c2e"


def test_filling_when_modes_given_then_fok_preferred_return_only_under_exchange() -> None:
    from agents.terminal.mt5.symbol_info import SymbolInfo

    def info(flags: int, exemode: int) -> SymbolInfo:
        return SymbolInfo(filling_mode=flags, trade_exemode=exemode)

    market, exchange = c.SYMBOL_TRADE_EXECUTION_MARKET, c.SYMBOL_TRADE_EXECUTION_EXCHANGE
    assert filling_for(info(3, market)) == c.ORDER_FILLING_FOK
    assert filling_for(info(2, market)) == c.ORDER_FILLING_IOC
    assert filling_for(info(0, exchange)) == c.ORDER_FILLING_RETURN
    assert filling_for(None) == c.ORDER_FILLING_FOK
    assert order_comment("a/b:c-d_e.f#ghij") == "mtq-abcdefgh"
    assert len(order_comment("x" * 128)) == 12


async def test_close_when_terminal_refuses_arguments_then_rejected_once_without_retries(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    ticket = rig.sim.open_position("EURUSD", c.POSITION_TYPE_BUY, 0.1).ticket
    await rig.poll()
    monkeypatch.setattr("agents.order_requests.order_comment", lambda _: "x" * 40)
    command = ClosePosition(command_id="cmd-long", account_id="rules", ticket=ticket)
    await rig.agent.executor.handle(command)
    (result,) = rig.of(OrderRejected)
    assert result.comment == 'order_send returned None: -2 Invalid "comment" argument'
    sends = [e for e in rig.sim.history if isinstance(e, sim_events.OrderHandled)]
    assert len(sends) == 1  # -2 is an argument error: the same request would fail again
    assert rig.sim.positions_get(ticket=ticket)


# --- identity and P/L -----------------------------------------------------------------------


async def test_positions_when_rollover_reopens_under_new_ticket_then_no_closed_opened_pair(
    rig: Rig,
) -> None:
    first = rig.sim.open_position("EURUSD", c.POSITION_TYPE_BUY, 1.0).ticket
    await rig.poll(0.5)
    rig.sim.rollover(reopen=True)
    await rig.poll(0.5)
    await rig.poll(0.5)
    (pos,) = rig.sim.positions_get() or ()
    assert pos.ticket != first
    assert [f.ticket for f in rig.of(PositionOpened)] == [first]
    assert rig.of(PositionClosed) == []
    (moved,) = rig.of(PositionModified)
    assert (moved.ticket, moved.identifier, moved.changed) == (pos.ticket, first, ("ticket",))
    # A close sent with the ticket the engine knew still finds the position.
    command = ClosePosition(command_id="close-old", account_id="rules", ticket=first)
    await rig.agent.executor.handle(command)
    assert [r.retcode for r in rig.of(OrderExecuted)] == [c.TRADE_RETCODE_DONE]
    await rig.poll(0.5)
    (closed,) = rig.of(PositionClosed)
    assert (closed.identifier, closed.ticket) == (first, pos.ticket)


async def test_closed_fact_when_commission_and_swap_charged_then_profit_is_realized_pl(
    rig: Rig,
) -> None:
    ticket = rig.sim.open_position("EURUSD", c.POSITION_TYPE_BUY, 2.0).ticket
    await rig.poll(0.5)
    rig.sim.rollover()
    rig.sim.set_price("EURUSD", rig.sim.symbol_info_tick("EURUSD").bid + 0.001)  # type: ignore[union-attr]
    command = ClosePosition(command_id="close-pl", account_id="rules", ticket=ticket)
    await rig.agent.executor.handle(command)
    await rig.poll(0.5)
    (closed,) = rig.of(PositionClosed)
    deals = rig.sim.history_deals_get(position=ticket) or ()
    realized = round(sum(d.profit + d.commission + d.swap + d.fee for d in deals), 2)
    assert closed.profit == realized
    assert (closed.commission, closed.swap) == (-14.0, -14.4)
    assert closed.profit == round(deals[-1].profit - 14.0 - 14.4, 2)
    account = rig.sim.account_info()
    assert account is not None
    assert account.balance == pytest.approx(10_000 + realized)


# --- one clock ------------------------------------------------------------------------------


async def test_wire_times_when_server_new_york_close_across_us_dst_then_true_utc(
    tmp_path: Path,
) -> None:
    # 2026-03-08 07:00 UTC: US DST starts, a "New York + 7" server goes from UTC+2 to UTC+3;
    # EU servers stay at UTC+2 until 2026-03-29.
    ny_close = {"server_timezone": "America/New_York", "server_shift_h": 7}
    rig = Rig(tmp_path, utc("2026-03-08T06:59:50"), ("EURUSD",), tick_interval_ms=500, **ny_close)
    try:
        for _ in range(6):
            await rig.poll(1.0)
        assert rig.agent.health().server_utc_offset_s == 2 * 3600
        ticket = rig.sim.open_position("EURUSD", c.POSITION_TYPE_BUY, 0.1).ticket
        opened_utc = int(rig.clock.now() * 1000)
        for _ in range(30):
            await rig.poll(1.0)
        assert rig.agent.health().server_utc_offset_s == 3 * 3600
        ticks = rig.of(TickReceived)
        assert ticks
        utc_steps = {
            e.tick.time_msc: e for e in rig.sim.history if isinstance(e, sim_events.TickGenerated)
        }
        assert set(t.server_time_msc for t in ticks) <= set(utc_steps)
        wrong = [
            t for t in ticks if t.server_time_msc - t.time_msc not in (2 * HOUR_MS, 3 * HOUR_MS)
        ]
        assert wrong == []
        # From the second poll after the change on (the first one sees it, the second agrees),
        # every tick carries the new offset.
        switch = int(utc("2026-03-08T07:00:00") * 1000) + 3 * HOUR_MS
        late = [t for t in ticks if t.server_time_msc >= switch + 2_000]
        assert len(late) > 40
        assert all(t.server_time_msc - t.time_msc == 3 * HOUR_MS for t in late)
        (opened,) = rig.of(PositionOpened)
        assert opened.ticket == ticket
        assert opened.server_time_msc == opened_utc + 2 * HOUR_MS
    finally:
        rig.close()


async def test_wire_times_when_eu_server_in_the_same_week_then_still_utc2(tmp_path: Path) -> None:
    rig = Rig(tmp_path, utc("2026-03-10T12:00:00"), ("EURUSD",),
              server_timezone="Europe/Athens", tick_interval_ms=500)  # fmt: skip
    try:
        for _ in range(4):
            await rig.poll(1.0)
        assert rig.agent.health().server_utc_offset_s == 2 * 3600
        last = rig.of(TickReceived)[-1]
        assert last.time_msc == int(rig.clock.now() * 1000)
        assert last.server_time_msc == last.time_msc + 2 * HOUR_MS
    finally:
        rig.close()
