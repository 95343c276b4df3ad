"""Signal sizing and ids (domain/signals.py) against hand computations."""

from __future__ import annotations

import hashlib
from decimal import Decimal

from domain.signals import (
    Refused,
    Sized,
    VolumeSpec,
    approval_id,
    floor_to_step,
    signal_command_id,
    size_fixed,
    size_risk_percent,
    stop_errors,
)

D = Decimal
LOTS = VolumeSpec(volume_min=D("0.01"), volume_step=D("0.01"), volume_max=D(100))


def test_command_id_is_32_hex_of_sha256_of_signal_and_account() -> None:
    expected = hashlib.sha256(b"s-1|ftmo-001").hexdigest()[:32]
    assert signal_command_id("s-1", "ftmo-001") == expected
    assert len(expected) == 32
    assert signal_command_id("s-1", "ftmo-002") != expected
    assert approval_id("s-1", "ftmo-001") == "s-1:ftmo-001"


def test_floor_to_step_rounds_down_never_up() -> None:
    assert floor_to_step(D("3.33333"), D("0.01")) == D("3.33")
    assert floor_to_step(D("0.019999"), D("0.01")) == D("0.01")
    assert floor_to_step(D("7.9"), D("0.5")) == D("7.5")
    assert str(floor_to_step(D("2"), D("0.01"))) == "2.00"
    assert str(floor_to_step(D("0.1"), D("0.01"))) == "0.10"


def test_risk_percent_eurusd_by_hand() -> None:
    # 1% of 100,000 = 1,000 at risk; SL 30 pips = 0.00300 = 300 ticks of 0.00001 at 1 USD
    # per lot: 300 USD per lot; 1000 / 300 = 3.333... lots, rounded down to 3.33.
    sized = size_risk_percent(
        D("100000.00"), D(1), D("1.08500"), D("1.08200"), D(1), D("0.00001"), LOTS
    )
    assert isinstance(sized, Sized)
    assert sized.volume == D("3.33")
    assert sized.sizing == "risk_percent"
    assert sized.basis["sl_distance"] == "0.00300"
    assert sized.basis["equity"] == "100000.00"
    assert sized.basis["tick_value"] == "1"
    assert sized.basis["volume_step"] == "0.01"
    # never more than asked: 3.33 lots lose 999 USD at the SL, 3.34 would lose 1002
    assert sized.volume * 300 <= 1000 < (sized.volume + D("0.01")) * 300


def test_risk_percent_gold_sell_by_hand() -> None:
    # 0.5% of 50,000 = 250; SL 10.00 above a sell at 2350.00 = 1000 ticks of 0.01 at 1 USD:
    # 1,000 USD per lot; 250 / 1000 = 0.25 lots.
    sized = size_risk_percent(
        D("50000"), D("0.5"), D("2350.00"), D("2360.00"), D(1), D("0.01"), LOTS
    )
    assert isinstance(sized, Sized)
    assert sized.volume == D("0.25")
    assert sized.basis["sl_distance"] == "10.00"


def test_risk_percent_below_volume_min_is_refused_not_rounded_up() -> None:
    # 0.1% of 1,000 = 1 USD; 300 USD per lot: 0.0033 lots < 0.01
    refused = size_risk_percent(
        D("1000"), D("0.1"), D("1.08500"), D("1.08200"), D(1), D("0.00001"), LOTS
    )
    assert isinstance(refused, Refused)
    assert "0.0033 lots, below volume_min 0.01" in refused.reason


def test_risk_percent_is_capped_at_volume_max() -> None:
    small_max = VolumeSpec(volume_min=D("0.01"), volume_step=D("0.01"), volume_max=D(2))
    sized = size_risk_percent(
        D("100000"), D(5), D("1.08500"), D("1.08400"), D(1), D("0.00001"), small_max
    )
    assert isinstance(sized, Sized)
    assert sized.volume == D(2)  # 5000 / 100 = 50 lots asked, 2 allowed


def test_risk_percent_refuses_without_sl_price_or_equity() -> None:
    args = (D(1), D("0.00001"), LOTS)
    no_sl = size_risk_percent(D("100000"), D(1), D("1.085"), None, *args)
    no_price = size_risk_percent(D("100000"), D(1), None, D("1.082"), *args)
    no_equity = size_risk_percent(None, D(1), D("1.085"), D("1.082"), *args)
    assert isinstance(no_sl, Refused)
    assert "needs an sl" in no_sl.reason
    assert isinstance(no_price, Refused)
    assert "needs a price" in no_price.reason
    assert isinstance(no_equity, Refused)
    assert "equity" in no_equity.reason


def test_fixed_lots_round_down_to_the_step_and_refuse_below_the_minimum() -> None:
    assert size_fixed(D("0.157"), LOTS) == Sized(D("0.15"), "fixed", {})
    assert size_fixed(D("250"), LOTS) == Sized(D("100.00"), "fixed", {})
    refused = size_fixed(D("0.005"), LOTS)
    assert isinstance(refused, Refused)
    assert refused.reason == "volume 0.005 is below volume_min 0.01"


def test_stops_on_the_wrong_side_are_named() -> None:
    assert stop_errors("buy", D("1.085"), D("1.082"), D("1.09")) == ""
    assert stop_errors("buy", D("1.085"), D("1.086"), None) == (
        "sl 1.086 must be below the price 1.085"
    )
    assert stop_errors("sell", D("1.085"), D("1.082"), None) == (
        "sl 1.082 must be above the price 1.085"
    )
    assert stop_errors("sell", D("1.085"), None, D("1.09")) == (
        "tp 1.09 must be below the price 1.085"
    )
