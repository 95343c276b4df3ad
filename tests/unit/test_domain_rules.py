"""Rules' dict form, money, and trading-day edge cases."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain import InvalidFact, RiskRules, SymbolSpec, account_risk_id, money
from domain.rules import DailyLossRule, MaxLossRule, PositionLimits
from domain.tradingday import trading_day


def full_rules() -> RiskRules:
    return RiskRules(
        initial_capital=Decimal("100000.00"),
        daily_loss=DailyLossRule(limit_percent=Decimal("4.5"), timezone="Europe/Prague"),
        max_loss=MaxLossRule(kind="trailing_eod", basis="peak", lock_at_initial=True),
        position_limits=PositionLimits(
            max_lots_per_symbol=Decimal("0.2"), allowed_symbols=("EURUSD",)
        ),
        liquidation_grace_seconds=5.0,
        symbols=(SymbolSpec("EURUSD", max_spread_pips=Decimal(3), stale_feed_seconds=30.0),),
        preset="ftmo-2step",
    )


def test_rules_when_to_dict_then_plain_json_in_field_order_and_exact_inverse() -> None:
    rules = full_rules()
    data = rules.to_dict()
    assert list(data)[:3] == ["initial_capital", "daily_loss", "max_loss"]
    assert json.loads(json.dumps(data)) == data
    assert data["initial_capital"] == "100000.00"
    assert data["position_limits"]["allowed_symbols"] == ["EURUSD"]
    assert RiskRules.from_dict(data) == rules
    assert RiskRules.from_dict(data).to_dict() == data


def test_rules_when_symbol_looked_up_then_spec_or_none() -> None:
    rules = full_rules()
    spec = rules.symbol("EURUSD")
    assert spec is not None
    assert spec.pip == Decimal("0.0001")
    assert rules.symbol("XAUUSD") is None
    assert SymbolSpec("XAUUSD", digits=2, point=Decimal("0.01")).pip == Decimal("0.01")


@pytest.mark.parametrize(
    ("value", "cents"),
    [(1.005, "1.00"), ("2.675", "2.68"), (Decimal("0.125"), "0.12"), (3, "3.00")],
)
def test_money_when_rounded_then_cents_half_even(value: object, cents: str) -> None:
    assert money(value) == Decimal(cents)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [float("nan"), float("inf"), "abc", Decimal("-Infinity"), True])
def test_money_when_not_finite_number_then_invalid_fact(value: object) -> None:
    with pytest.raises(InvalidFact):
        money(value)  # type: ignore[arg-type]


def test_account_risk_id_when_same_account_then_same_uuid5() -> None:
    assert account_risk_id("acc-1") == account_risk_id("acc-1")
    assert account_risk_id("acc-1") != account_risk_id("acc-2")
    assert account_risk_id("acc-1").version == 5


def test_trading_day_when_reset_17_chicago_then_day_starts_previous_evening() -> None:
    day = trading_day(datetime(2026, 6, 1, 23, tzinfo=UTC), "17:00", "America/Chicago")
    assert day.day == date(2026, 6, 1)
    assert day.start == datetime(2026, 6, 1, 22, tzinfo=UTC)


def test_trading_day_when_reset_time_skipped_by_dst_then_still_one_day_per_date() -> None:
    # 02:30 does not exist in Prague on 2026-03-29
    day = trading_day(datetime(2026, 3, 29, 1, 15, tzinfo=UTC), "02:30", "Europe/Prague")
    assert day.start <= datetime(2026, 3, 29, 1, 15, tzinfo=UTC) < day.end


@given(st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1)))
def test_trading_day_when_any_instant_then_inside_its_bounds(naive: datetime) -> None:
    at = naive.replace(tzinfo=UTC)
    day = trading_day(at, "00:00", "Europe/Prague")
    assert day.start <= at < day.end
