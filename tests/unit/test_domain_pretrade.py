"""Pre-trade checks: each reason, the market guard, and reducing orders in REDUCING/HALTED."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from domain import MarketEvidence
from domain.rules import DailyLossRule, PositionLimits
from tests.unit.test_domain_support import EURUSD, T0, D, Feed, names, quote, rules


def ready(**changes: object) -> Feed:
    feed = Feed(rules(**changes))
    feed.snapshot("100000.00")
    return feed


def test_pretrade_when_within_limits_then_approved_and_recorded_with_evidence() -> None:
    feed = ready()
    answer, events = feed.check(sl=D("1.09900"))
    assert answer.approved
    assert answer.reasons == ()
    assert names(events) == ["OrderApproved"]
    recorded = events[0]
    assert recorded.request["client_order_id"] == "c-1"
    assert recorded.market == {
        "symbol": "EURUSD",
        "bid": D("1.10000"),
        "ask": D("1.10010"),
        "tick_time": feed.time,
    }
    assert recorded.limits["trade_risk"] == "10.00"  # 100 points * 1.00 * 0.1 lots
    assert recorded.seq == feed.seq


@pytest.mark.parametrize(
    ("changes", "request_fields", "reason"),
    [
        (
            {"position_limits": PositionLimits(allowed_symbols=("XAUUSD",))},
            {},
            "symbol EURUSD not in allowed_symbols",
        ),
        ({}, {"symbol": "BTCUSD"}, "symbol BTCUSD unknown"),
        (
            {"position_limits": PositionLimits(max_lots_per_symbol=D("0.2"))},
            {"volume": "0.5"},
            "lots 0.5 > max_lots_per_symbol 0.2",
        ),
        (
            {"position_limits": PositionLimits(max_total_lots=D("0.3"))},
            {"volume": "0.5"},
            "total_lots 0.5 > max_total_lots 0.3",
        ),
        (
            {"position_limits": PositionLimits(require_stop_loss=True)},
            {},
            "stop_loss 0 but require_stop_loss",
        ),
        (
            {},
            {"volume": "2", "sl": D("1.09000")},
            "trade_risk 2000.00 > 1000.00 (risk_percent 1 of equity 100000.00)",
        ),
        ({}, {"volume": "0"}, "volume 0 <= 0"),
    ],
)
def test_pretrade_when_limit_broken_then_denied_with_reason(
    changes: dict[str, object], request_fields: dict[str, object], reason: str
) -> None:
    feed = ready(**changes)
    answer, events = feed.check(**request_fields)  # type: ignore[arg-type]
    assert not answer.approved
    assert reason in answer.reasons
    assert names(events) == ["OrderDenied"]
    assert events[0].reasons == answer.reasons


def test_pretrade_when_position_count_full_then_denied() -> None:
    feed = ready(position_limits=PositionLimits(max_positions=1, max_concurrent_trades=1))
    feed.open(1)
    answer, _ = feed.check("XAUUSD", price=D("2350.00"))
    assert "positions 2 > max_positions 1" in answer.reasons
    assert "concurrent_trades 2 > max_concurrent_trades 1" in answer.reasons


def test_pretrade_when_portfolio_risk_with_new_trade_too_high_then_denied() -> None:
    feed = ready(portfolio_risk_percent=D(1))
    feed.open(1, volume=D("4"), sl=D("1.09800"))  # 800 at risk
    answer, _ = feed.check(volume="0.5", sl=D("1.09500"))  # 250 more
    assert answer.reasons == (
        "portfolio_risk 1050.00 > 1000.00 (portfolio_risk_percent 1 of equity 100000.00)",
    )


def test_pretrade_when_no_snapshot_yet_and_sl_then_denied_equity_unknown() -> None:
    feed = Feed(rules())
    answer, _ = feed.check(sl=D("1.09"))
    assert answer.reasons == ("equity unknown: no account snapshot yet",)


# --- market guard -------------------------------------------------------------------------


def test_market_guard_when_spread_above_max_then_denied() -> None:
    feed = ready()
    wide = quote("EURUSD", feed.time, bid="1.10000", ask="1.10035")
    answer, _ = feed.check(market=wide)
    assert answer.reasons == ("spread 3.50 pips > max_spread_pips 3",)


def test_market_guard_when_tick_older_than_stale_feed_seconds_then_denied() -> None:
    feed = ready()
    old = quote("EURUSD", feed.time - timedelta(seconds=45))
    answer, events = feed.check(market=old)
    assert answer.reasons == ("tick_age 45.0s > stale_feed_seconds 30",)
    assert events[0].market["tick_time"] == feed.time - timedelta(seconds=45)


@pytest.mark.parametrize("market", [None, MarketEvidence("EURUSD")])
def test_market_guard_when_no_tick_and_stale_feed_set_then_denied(
    market: MarketEvidence | None,
) -> None:
    feed = ready()
    answer, _ = feed.check(market=market)
    assert answer.reasons == ("no tick for EURUSD (stale_feed_seconds 30)",)


def test_market_guard_when_no_tick_and_no_stale_feed_setting_then_approved() -> None:
    feed = ready()
    answer, _ = feed.check("XAUUSD", price=D("2350.00"), market=None)
    assert answer.approved


# --- trading states -------------------------------------------------------------------------


def reducing_with_long() -> Feed:
    feed = ready(daily_loss=DailyLossRule(action="reduce"))
    feed.open(1, volume=D("1"))
    feed.snapshot("100000.00", "94000.00")
    assert feed.account.trading_state == "REDUCING"
    return feed


def test_reducing_when_order_shrinks_net_exposure_then_approved() -> None:
    feed = reducing_with_long()
    answer, events = feed.check(side="sell", volume="0.5")
    assert answer.approved
    assert answer.limits["reduces_exposure"] is True
    assert events[0].trading_state == "REDUCING"


@pytest.mark.parametrize(
    ("side", "volume", "symbol"),
    [("buy", "0.1", "EURUSD"), ("sell", "1.5", "EURUSD"), ("sell", "0.1", "XAUUSD")],
)
def test_reducing_when_order_adds_or_flips_exposure_then_denied(
    side: str, volume: str, symbol: str
) -> None:
    feed = reducing_with_long()
    answer, _ = feed.check(symbol, side=side, volume=volume, price=D("1.1"))
    assert not answer.approved
    assert "trading_state REDUCING" in answer.reasons


def test_halted_when_reducing_order_even_with_stale_feed_then_approved() -> None:
    feed = ready()
    feed.open(1, volume=D("1"))
    feed.control("halt")
    answer, _ = feed.check(side="sell", volume="1", market=None)
    assert answer.approved
    answer, _ = feed.check(side="buy", volume="1")
    assert answer.reasons == ("trading_state HALTED",)


def _gapped(previous_bid: str, bid: str) -> MarketEvidence:
    return MarketEvidence(
        "EURUSD",
        D(bid),
        D(bid) + D("0.0001"),
        T0,
        previous_bid=D(previous_bid),
        previous_ask=D(previous_bid) + D("0.0001"),
        previous_time=T0,
    )


def test_max_gap_pips_when_last_tick_jumped_then_denied_with_both_ticks() -> None:
    spec = replace(EURUSD, max_gap_pips=D(20))
    feed = Feed(rules(symbols=(spec,)))
    feed.snapshot("100000")
    answer, events = feed.check(market=_gapped("1.10000", "1.10250"))
    assert not answer.approved
    assert "gap 25.00 pips > max_gap_pips 20 (bid 1.10000 -> 1.10250)" in answer.reasons
    assert events[-1].market["previous_bid"] == D("1.10000")
    calm, _ = feed.check(market=_gapped("1.10000", "1.10200"), client_order_id="c-2")
    assert calm.approved, calm.reasons
    alone, _ = feed.check(market=quote("EURUSD", T0), client_order_id="c-3")
    assert "no previous tick of EURUSD to judge max_gap_pips 20" in alone.reasons


def test_market_evidence_when_no_gap_rule_then_recorded_as_before() -> None:
    feed = Feed(rules())
    feed.snapshot("100000")
    _, events = feed.check()
    assert set(events[-1].market) == {"symbol", "bid", "ask", "tick_time"}
