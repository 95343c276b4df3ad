"""Reconciliation statuses and divergence reasons at and just beyond every tolerance."""

from __future__ import annotations

from typing import Any

import pytest

from projections.reconciliation import ReconBook, overlay_stale
from projections.settings import AccountSettings, Tolerances

T0 = "2026-03-02T09:00:00+00:00"
T1 = "2026-03-02T09:00:01+00:00"
T10 = "2026-03-02T09:00:10+00:00"
T11 = "2026-03-02T09:00:10.001000+00:00"
MAGIC = 424242
EURUSD_PIP = 0.0001  # 5-digit quote: 10 points
USDJPY_PIP = 0.01  # 3-digit quote: 10 points


def settings(**tolerances: float) -> AccountSettings:
    return AccountSettings(
        account_id="acc",
        pips={"EURUSD": 10 * 0.00001, "USDJPY": 10 * 0.001},
        tolerances=Tolerances(**tolerances),
        our_magics=frozenset({MAGIC}),
    )


def intent(**fields: Any) -> dict[str, Any]:
    return {
        "symbol": "EURUSD",
        "side": "buy",
        "volume": 1.0,
        "price": 1.08500,
        "sl": 0.0,
        "tp": 0.0,
        "client_order_id": "",
    } | fields


def position(identifier: int = 7, **fields: Any) -> dict[str, Any]:
    return {
        "identifier": identifier,
        "ticket": identifier,
        "symbol": "EURUSD",
        "side": "buy",
        "volume": 1.0,
        "price_open": 1.08500,
        "sl": 0.0,
        "tp": 0.0,
        "magic": MAGIC,
        "comment": "",
        "reason": "expert",
    } | fields


def pair(book: ReconBook, want: dict[str, Any], have: dict[str, Any]) -> dict[str, Any]:
    book.intent(1, T0, want)
    book.opened(have, T1)
    return only(book)


def only(book: ReconBook) -> dict[str, Any]:
    assert len(book.items) == 1, sorted(book.items)
    return next(iter(book.items.values()))


def reasons(item: dict[str, Any]) -> list[str]:
    return [r["reason"] for r in item["reasons"]]


# --- matching tolerances (no id link): volume 5 %, entry 2 pips ------------------------


@pytest.mark.parametrize(
    ("symbol", "price", "filled"),
    [("EURUSD", 1.08500, 1.08520), ("USDJPY", 151.500, 151.520)],
    ids=["5-digit", "jpy-3-digit"],
)
def test_match_when_entry_at_price_tolerance_then_matched(
    symbol: str, price: float, filled: float
) -> None:
    item = pair(
        ReconBook(settings()),
        intent(symbol=symbol, price=price),
        position(symbol=symbol, price_open=filled),
    )
    assert item["status"] == "matched"
    assert item["intent"]["symbol"] == symbol
    assert item["position"]["identifier"] == 7


@pytest.mark.parametrize(
    ("symbol", "price", "filled"),
    [("EURUSD", 1.08500, 1.08521), ("USDJPY", 151.500, 151.521)],
    ids=["5-digit", "jpy-3-digit"],
)
def test_match_when_entry_just_beyond_price_tolerance_then_unpaired(
    symbol: str, price: float, filled: float
) -> None:
    book = ReconBook(settings())
    book.intent(1, T0, intent(symbol=symbol, price=price))
    book.opened(position(symbol=symbol, price_open=filled), T1)
    statuses = {i["item_id"]: i["status"] for i in book.items.values()}
    assert statuses == {"o:#1": "pending", "p:7": "manual"}
    assert reasons(book.items["p:7"]) == ["no_intent"]


def test_match_when_volume_at_tolerance_then_matched_and_beyond_then_unpaired() -> None:
    assert pair(ReconBook(settings()), intent(), position(volume=1.05))["status"] == "matched"
    book = ReconBook(settings())
    book.intent(1, T0, intent())
    book.opened(position(volume=1.051), T1)
    assert book.items["p:7"]["status"] == "manual"


def test_match_when_symbol_case_differs_then_matched() -> None:
    item = pair(ReconBook(settings()), intent(symbol="eurusd"), position())
    assert item["status"] == "matched"


def test_match_when_side_differs_then_unpaired() -> None:
    book = ReconBook(settings())
    book.intent(1, T0, intent(side="sell"))
    book.opened(position(), T1)
    assert len(book.items) == 2


def test_match_when_intent_arrives_after_its_position_then_paired_with_history() -> None:
    book = ReconBook(settings())
    book.opened(position(), T0)
    assert only(book)["status"] == "manual"
    book.intent(3, T1, intent())
    item = only(book)
    assert item["status"] == "matched"
    assert item["paired_from"] == "p:7"
    assert [h["status"] for h in item["history"]] == ["manual", "matched"]
    assert book.deleted == {"p:7"}


# --- divergence (linked by client_order_id in the comment) ------------------------------


def linked(book: ReconBook, want: dict[str, Any], have: dict[str, Any]) -> dict[str, Any]:
    return pair(book, intent(client_order_id="c-1") | want, position(comment="c-1") | have)


@pytest.mark.parametrize(
    ("symbol", "price", "at", "beyond", "pips"),
    [
        ("EURUSD", 1.08500, 1.08550, 1.08551, 5.1),
        ("USDJPY", 151.500, 151.450, 151.449, 5.1),
    ],
    ids=["5-digit", "jpy-3-digit"],
)
def test_slippage_when_at_limit_then_matched_and_beyond_then_divergent(
    symbol: str, price: float, at: float, beyond: float, pips: float
) -> None:
    want = {"symbol": symbol, "price": price}
    assert linked(ReconBook(settings()), want, {"symbol": symbol, "price_open": at})["status"] == (
        "matched"
    )
    item = linked(ReconBook(settings()), want, {"symbol": symbol, "price_open": beyond})
    assert item["status"] == "slipped"
    assert item["reasons"] == [
        {"reason": "slippage", "pips": pips, "limit_pips": 5.0, "intended": price, "broker": beyond}
    ]
    assert item["intent"]["client_order_id"] == "c-1"
    assert item["item_id"] == "o:c-1"


def test_volume_when_at_divergence_limit_then_matched_and_beyond_then_divergent() -> None:
    assert linked(ReconBook(settings()), {}, {"volume": 1.10})["status"] == "matched"
    item = linked(ReconBook(settings()), {}, {"volume": 1.11})
    assert item["status"] == "partial"
    assert item["reasons"][0] | {"percent": round(item["reasons"][0]["percent"], 3)} == {
        "reason": "volume",
        "percent": 11.0,
        "limit_percent": 10.0,
        "intended": 1.0,
        "broker": 1.11,
    }


@pytest.mark.parametrize("name", ["sl", "tp"])
@pytest.mark.parametrize(
    ("symbol", "price", "level", "at", "beyond"),
    [
        ("EURUSD", 1.08500, 1.08000, 1.07900, 1.07899),
        ("USDJPY", 151.500, 151.000, 150.900, 150.899),
    ],
    ids=["5-digit", "jpy-3-digit"],
)
def test_sl_tp_when_at_limit_then_matched_and_beyond_then_divergent(  # noqa: PLR0917
    name: str, symbol: str, price: float, level: float, at: float, beyond: float
) -> None:
    want = {"symbol": symbol, "price": price, name: level}
    ok = linked(ReconBook(settings()), want, {"symbol": symbol, "price_open": price, name: at})
    assert ok["status"] == "matched"
    item = linked(
        ReconBook(settings()), want, {"symbol": symbol, "price_open": price, name: beyond}
    )
    assert item["status"] == "slipped"
    assert item["reasons"] == [
        {"reason": name, "pips": 10.1, "limit_pips": 10.0, "intended": level, "broker": beyond}
    ]


def test_sl_when_broker_has_none_then_divergent_without_pips() -> None:
    item = linked(ReconBook(settings()), {"sl": 1.08}, {"sl": 0.0})
    assert item["reasons"] == [
        {"reason": "sl", "pips": None, "limit_pips": 10.0, "intended": 1.08, "broker": 0.0}
    ]


def test_divergence_when_several_reasons_then_each_listed() -> None:
    have = {"price_open": 1.0860, "volume": 2.0, "sl": 1.07}
    item = linked(ReconBook(settings()), {"sl": 1.08}, have)
    assert reasons(item) == ["slippage", "volume", "sl"]


def test_tolerances_when_configured_then_used() -> None:
    item = linked(ReconBook(settings(slippage_pips=20.0)), {}, {"price_open": 1.0865})
    assert item["status"] == "matched"


# --- broker side without intent ----------------------------------------------------------


@pytest.mark.parametrize("reason", ["client", "mobile", "web"])
def test_unmatched_broker_when_manual_then_reason_named(reason: str) -> None:
    book = ReconBook(settings())
    book.intent(1, T0, intent())  # a fitting intent never pairs with a manual trade
    book.opened(position(reason=reason), T1)
    item = book.items["p:7"]
    assert item["status"] == "manual"
    assert item["reasons"] == [{"reason": "manual", "position_reason": reason}]


def test_unmatched_broker_when_magic_not_ours_then_foreign_magic() -> None:
    book = ReconBook(settings())
    book.opened(position(magic=99), T0)
    assert only(book)["reasons"] == [{"reason": "foreign_magic", "magic": 99}]


# --- missing at broker -----------------------------------------------------------------------


def test_missing_when_window_passes_without_fill_then_never_filled() -> None:
    book = ReconBook(settings())
    book.intent(1, T0, intent())
    book.clock(T10)
    assert only(book)["status"] == "pending"  # exactly at the 10 s window
    book.clock(T11)
    item = only(book)
    assert item["status"] == "not_executed"
    assert item["reasons"] == [{"reason": "never_filled", "window_s": 10.0}]
    assert item["since"] == T11
    book.opened(position(), "2026-03-02T09:00:20+00:00")  # filled late after all
    assert only(book)["status"] == "matched"


@pytest.mark.parametrize("deal", ["sl", "tp", "so"])
def test_missing_when_broker_closed_the_position_then_deal_reason(deal: str) -> None:
    book = ReconBook(settings())
    pair(book, intent(), position())
    book.closed(7, deal, 1.08, T10)
    item = only(book)
    assert item["status"] == "closed_by_broker"
    assert item["reasons"] == [{"reason": "closed_by_broker", "deal_reason": deal}]
    assert [h["status"] for h in item["history"]] == ["pending", "matched", "closed_by_broker"]
    assert [h["since"] for h in item["history"]] == [T0, T1, T10]


def test_closed_when_we_close_it_then_closed_not_missing() -> None:
    book = ReconBook(settings())
    pair(book, intent(), position())
    book.closed(7, "expert", 1.08, T10)
    assert only(book)["status"] == "closed"


# --- partial close, new ticket, agent connectivity -----------------------------------------------


def test_partial_close_when_volume_halves_then_divergent_volume() -> None:
    book = ReconBook(settings())
    pair(book, intent(), position())
    book.modified(position(volume=0.5), T10)
    item = only(book)
    assert item["status"] == "partial"
    assert item["reasons"][0]["reason"] == "volume"
    assert item["reasons"][0]["broker"] == 0.5


def test_new_ticket_when_same_identifier_then_same_item_still_matched() -> None:
    book = ReconBook(settings())
    pair(book, intent(), position(identifier=7, ticket=7))
    book.modified(position(identifier=7, ticket=8), T10)
    item = only(book)
    assert item["status"] == "matched"
    assert item["position"]["ticket"] == 8
    assert [h["status"] for h in item["history"]] == ["pending", "matched"]


def test_disconnected_agent_when_window_passes_then_unknown_never_missing() -> None:
    book = ReconBook(settings())
    book.intent(1, T0, intent())
    pair_book = ReconBook(settings())
    pair(pair_book, intent(), position())
    for b in (book, pair_book):
        b.agent(False, T1)
        b.clock("2026-03-02T09:05:00+00:00")
        assert only(b)["status"] == "unknown"
    assert only(book)["reasons"] == [{"reason": "agent_disconnected", "last_known": "pending"}]
    assert only(pair_book)["reasons"][0]["last_known"] == "matched"
    pair_book.agent(True, T10)
    assert only(pair_book)["status"] == "matched"


def test_stale_agent_when_read_then_unknown_not_missing() -> None:
    book = ReconBook(settings())
    book.intent(1, T0, intent())
    book.clock(T11)
    item = only(book)
    assert item["status"] == "not_executed"
    shown = overlay_stale(item, stale=True)
    assert shown["status"] == "unknown"
    assert shown["reasons"] == [{"reason": "agent_stale", "last_known": "not_executed"}]
    assert overlay_stale(item, stale=False) is item


def test_stale_agent_when_item_closed_by_broker_then_kept() -> None:
    book = ReconBook(settings())
    pair(book, intent(), position())
    book.closed(7, "tp", 1.09, T10)
    assert overlay_stale(only(book), stale=True)["status"] == "closed_by_broker"
