"""`rules_for`: pydantic account config -> the domain's frozen rules."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from config import load_config
from domain import RiskRules
from engine.rules import rules_for

DEMO = Path(__file__).resolve().parents[2] / "config" / "examples" / "demo.yaml"


def test_rules_for_when_demo_accounts_then_limits_actions_and_symbols_carried() -> None:
    config = load_config(DEMO)
    ftmo = rules_for(config.account("ftmo-001"))
    assert ftmo.initial_capital == Decimal("100000.00")
    assert ftmo.daily_loss.timezone == "Europe/Prague"
    assert ftmo.daily_loss.action == "liquidate"
    assert ftmo.max_loss.kind == "static"
    eurusd = ftmo.symbol("EURUSD")
    assert eurusd is not None
    assert (eurusd.point, eurusd.tick_size, eurusd.max_spread_pips) == (
        Decimal("0.00001"),
        Decimal("0.00001"),
        Decimal("3.0"),
    )
    trail = rules_for(config.account("trail-002"))
    assert (trail.breach_confirmations, trail.liquidation_grace_seconds) == (2, 5.0)
    assert trail.max_loss.lock_at_initial is True
    strict = rules_for(config.account("strict-003"))
    limits = strict.position_limits
    assert limits.max_lots_per_symbol == Decimal("0.2")
    assert limits.allowed_symbols == ("EURUSD", "XAUUSD")
    assert limits.action == "close_position"
    assert strict.daily_loss.action == "halt"
    assert strict.portfolio_action == "reduce"


def test_rules_for_when_round_tripped_through_dict_then_equal() -> None:
    for account in load_config(DEMO).accounts:
        rules = rules_for(account)
        assert RiskRules.from_dict(rules.to_dict()) == rules
