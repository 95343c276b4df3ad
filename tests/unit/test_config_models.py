"""The config models: derived fields, password handling, account lookup."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from config import (
    AccountConfig,
    ConfigError,
    MtqConfig,
    PasswordNotSetError,
    SymbolConfig,
    UnknownAccountError,
    load_config,
)


def _account(account_id: str = "acc-1", **kw: object) -> AccountConfig:
    return AccountConfig.model_validate({"id": account_id, "symbols": [{"name": "EURUSD"}], **kw})


def test_symbol_when_point_not_given_then_derived_from_digits() -> None:
    jpy = SymbolConfig(name="USDJPY", digits=3)
    gold = SymbolConfig.model_validate({"name": "XAUUSD", "digits": 2, "point": None})
    assert jpy.point == pytest.approx(0.001)
    assert jpy.tick_size == pytest.approx(0.001)
    assert jpy.pip == pytest.approx(0.01)
    assert gold.point == pytest.approx(0.01)
    assert gold.pip == pytest.approx(0.01)
    assert SymbolConfig(name="EURUSD").pip == pytest.approx(0.0001)


def test_symbol_when_point_given_then_kept() -> None:
    assert SymbolConfig(name="US30", digits=1, point=0.5).point == 0.5


def test_models_when_assigned_then_frozen() -> None:
    account = _account()
    with pytest.raises(ValidationError):
        account.enabled = False


def test_account_when_dumped_then_no_password_only_env_name() -> None:
    account = _account(password_env="MT5_PW_ACC1")
    environ = {"MT5_PW_ACC1": "hunter2-secret"}
    assert account.resolve_password(environ) == "hunter2-secret"
    shown = repr(account) + str(account.model_dump()) + account.model_dump_json()
    shown += account.masked_password(environ)
    assert "hunter2-secret" not in shown
    assert account.masked_password(environ) == "$MT5_PW_ACC1 (set)"
    assert account.masked_password({}) == "$MT5_PW_ACC1 (not set)"
    assert _account().masked_password({}) == "-"


def test_resolve_password_when_variable_missing_then_error_names_variable_and_account() -> None:
    account = _account("ftmo-001", password_env="MT5_PW_FTMO")
    with pytest.raises(PasswordNotSetError) as err:
        account.resolve_password({})
    assert "MT5_PW_FTMO" in str(err.value)
    assert "ftmo-001" in str(err.value)
    assert isinstance(err.value, ConfigError)


def test_resolve_password_when_no_password_env_then_error_names_account() -> None:
    with pytest.raises(PasswordNotSetError, match=r"acc-1.*password_env"):
        _account().resolve_password({"ANY": "x"})


def test_config_account_when_unknown_id_then_error_lists_known_ids() -> None:
    config = MtqConfig(accounts=(_account("a-1"), _account("b-2", enabled=False)))
    assert config.account("b-2").id == "b-2"
    assert [a.id for a in config.enabled_accounts()] == ["a-1"]
    with pytest.raises(UnknownAccountError) as err:
        config.account("zz")
    assert isinstance(err.value, KeyError)
    assert str(err.value) == "unknown account 'zz'; known accounts: a-1, b-2"


def test_account_symbol_when_missing_then_error_lists_symbols() -> None:
    account = _account()
    assert account.symbol("EURUSD").name == "EURUSD"
    with pytest.raises(ConfigError, match="has no symbol 'GBPUSD'; it has EURUSD"):
        account.symbol("GBPUSD")


def test_config_when_source_set_then_left_out_of_dump() -> None:
    config = MtqConfig(accounts=(_account(),), source=("a.yaml",))
    assert "source" not in config.model_dump()
    assert config.source == ("a.yaml",)


def test_demo_when_simulated_spreads_quoted_then_each_within_its_max_spread_pips() -> None:
    demo = load_config(str(Path(__file__).parents[2] / "config/examples/demo.yaml"))
    checked = 0
    for account in demo.accounts:
        for symbol in account.symbols:
            if symbol.max_spread_pips is None:
                continue
            spread_pips = symbol.spread_points * symbol.point / symbol.pip
            assert spread_pips <= symbol.max_spread_pips, (account.id, symbol.name)
            checked += 1
    assert checked >= 4
