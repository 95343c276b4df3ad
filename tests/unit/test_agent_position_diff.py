from __future__ import annotations

from typing import Any

from agents.facts import close_from_deals, closed_fact, modified_fact, opened_fact
from agents.position_diff import PositionRecord, diff_positions, record_from_terminal
from agents.server_clock import ServerClock
from agents.terminal.mt5.structures import TradeDeal, TradePosition

UTC_CLOCK = ServerClock(lambda: 0.0)


def _pos(ticket: int, *, volume: float = 0.1, sl: float = 0.0, tp: float = 0.0,
         price: float = 1.1, update: int = 0, identifier: int = 0) -> TradePosition:  # fmt: skip
    return TradePosition(
        ticket=ticket, time=1, time_msc=1000, time_update=1, time_update_msc=update, type=1,
        magic=7, identifier=identifier or ticket, reason=3, volume=volume, price_open=1.1, sl=sl,
        tp=tp,
        price_current=price, swap=0.0, profit=0.0, symbol="EURUSD", comment="c",
        external_id="",
    )  # fmt: skip


def _deal(ticket: int, position: int, entry: int, price: float, reason: int, msc: int,  # noqa: PLR0917
          **money: float) -> TradeDeal:  # fmt: skip
    fields: dict[str, Any] = dict.fromkeys(TradeDeal._fields, 0)
    fields.update(
        ticket=ticket, order=ticket, time_msc=msc, position_id=position, entry=entry,
        price=price, reason=reason, profit=5.0, symbol="EURUSD", comment="", external_id="",
    )  # fmt: skip
    fields.update(money)
    return TradeDeal(**fields)


def _known(*positions: TradePosition) -> dict[int, PositionRecord]:
    return {p.identifier: record_from_terminal(p) for p in positions}


def test_diff_when_position_appears_then_opened() -> None:
    changes = diff_positions({}, [record_from_terminal(_pos(1))])
    assert [r.ticket for r in changes.opened] == [1]
    assert not changes.modified
    assert not changes.closed
    record = changes.opened[0]
    assert record.side == "sell"
    assert record.reason == "expert"
    assert record.magic == 7


def test_diff_when_only_price_moves_then_no_change() -> None:
    changes = diff_positions(_known(_pos(1)), [record_from_terminal(_pos(1, price=1.2))])
    assert not changes


def test_diff_when_sl_and_volume_change_then_modified_with_fields() -> None:
    after = record_from_terminal(_pos(1, volume=0.05, sl=1.2, update=5))
    changes = diff_positions(_known(_pos(1)), [after])
    assert changes.modified == [(after, ("volume", "sl"))]


def test_diff_when_position_vanishes_then_closed_as_last_seen() -> None:
    changes = diff_positions(_known(_pos(1), _pos(2)), [record_from_terminal(_pos(2))])
    assert [r.ticket for r in changes.closed] == [1]


def test_diff_when_rollover_reopens_under_new_ticket_then_modified_not_closed_and_opened() -> None:
    after = record_from_terminal(_pos(9, identifier=1, update=7))
    changes = diff_positions(_known(_pos(1)), [after])
    assert not changes.opened
    assert not changes.closed
    assert changes.modified == [(after, ("ticket",))]


def test_close_deal_when_history_has_entry_and_exit_then_exit_price_and_reason() -> None:
    deals = [_deal(10, 1, 0, 1.1, 3, 1000), _deal(11, 1, 1, 1.15, 4, 2000)]
    deal = close_from_deals(deals)
    assert deal is not None
    assert (deal.price, deal.reason, deal.ticket, deal.time_msc) == (1.15, "sl", 11, 2000)
    assert close_from_deals([deals[0]]) is None
    assert close_from_deals(None) is None


def test_close_deal_when_commission_swap_and_fee_then_realized_pl_sums_every_deal() -> None:
    deals = [
        _deal(10, 1, 0, 1.1, 3, 1000, profit=0.0, commission=-3.5, fee=-0.1),
        _deal(11, 1, 1, 1.12, 3, 2000, profit=100.0, commission=-1.75, swap=-7.2),
        _deal(12, 1, 1, 1.13, 3, 3000, profit=50.0, commission=-1.75, swap=-3.6),
    ]
    deal = close_from_deals(deals)
    assert deal is not None
    assert deal.profit == round(150.0 - 7.0 - 10.8 - 0.1, 2)
    assert (deal.commission, deal.swap, deal.fee) == (-7.0, -10.8, -0.1)
    assert (deal.ticket, deal.price) == (12, 1.13)


def test_fact_ids_when_built_then_deterministic_per_identifier_and_update() -> None:
    record = record_from_terminal(_pos(1, sl=1.2, update=9))
    opened = opened_fact("acc", record, UTC_CLOCK)[0]
    assert opened == opened_fact("acc", record, UTC_CLOCK)[0] == "acc:position.opened:1"
    reopened = record_from_terminal(_pos(5, sl=1.2, update=9, identifier=1))
    assert opened_fact("acc", reopened, UTC_CLOCK)[0] == opened
    other = record_from_terminal(_pos(1, sl=1.3, update=9))
    first = modified_fact("acc", record, ("sl",), UTC_CLOCK)[0]
    assert first != modified_fact("acc", other, ("sl",), UTC_CLOCK)[0]
    assert first != modified_fact("acc", reopened, ("ticket",), UTC_CLOCK)[0]
    msg_id, fact = closed_fact("acc", record, None, 123, UTC_CLOCK)
    assert msg_id == "acc:position.closed:1"
    assert fact.close_price == record.price_current
    assert fact.deal_reason == "unknown"
    assert fact.close_time_msc == 123
