"""Presets: shipped rule sets merged under the account's own risk keys."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from config import check_config, load_config
from config.presets import PRESET_DIR, available_presets, load_preset, preset_version
from mtq.cli import app

REQUIRED = (
    "ftmo-1step",
    "ftmo-2step",
    "fundednext-stellar-2step",
    "the5ers-high-stakes",
    "topstep-50k",
)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cfg.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_presets_when_listed_then_each_quotes_its_source_and_stricter_reading() -> None:
    assert set(REQUIRED) <= set(available_presets())
    for name in REQUIRED:
        text = (PRESET_DIR / f"{name}.yaml").read_text(encoding="utf-8")
        assert "https://" in text
        assert "read 2026-12-04" in text
        assert '"' in text  # the firm's own words, quoted
        assert "Stricter reading" in text
        assert preset_version(name) >= 1
        assert load_preset(name)["daily_loss"]["enabled"] is True


@pytest.mark.parametrize("name", REQUIRED)
def test_preset_when_used_with_initial_capital_then_valid_account(
    tmp_path: Path, name: str
) -> None:
    path = write(
        tmp_path,
        "accounts:\n  - id: a1\n    symbols: [{name: EURUSD}]\n"
        f"    risk: {{preset: {name}, initial_capital: 50000}}\n",
    )
    config, result = check_config(path)
    assert result.valid, result.lines()
    assert config is not None
    assert config.accounts[0].risk.preset == name


@pytest.mark.parametrize("name", [n for n in REQUIRED if n != "topstep-50k"])
def test_preset_when_initial_capital_missing_then_error_names_file_key_and_rule(
    tmp_path: Path, name: str
) -> None:
    path = write(
        tmp_path,
        f"accounts:\n  - id: a1\n    symbols: [{{name: EURUSD}}]\n    risk: {{preset: {name}}}\n",
    )
    config, result = check_config(path)
    assert config is None
    (error,) = result.errors
    assert (error.file, error.line) == (str(path), 4)
    assert error.path == "accounts[0].risk.initial_capital"
    assert error.rule == "preset_initial_capital"
    assert name in error.message
    assert f"{path}:4" in str(error)


def test_preset_when_named_in_defaults_without_capital_then_one_error_per_account(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path,
        "defaults:\n  symbols: [{name: EURUSD}]\n  risk: {preset: ftmo-1step}\n"
        "accounts:\n  - id: a1\n    risk: {initial_capital: 100000}\n  - id: a2\n",
    )
    _, result = check_config(path)
    assert [(e.path, e.rule) for e in result.errors] == [
        ("accounts[1].risk.initial_capital", "preset_initial_capital")
    ]


def test_topstep_preset_when_used_alone_then_its_own_capital_applies(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "accounts:\n  - id: a1\n    symbols: [{name: EURUSD}]\n    risk: {preset: topstep-50k}\n",
    )
    assert load_config(path).accounts[0].risk.initial_capital == 50000


def test_preset_fixes_when_loaded_then_breach_tests_and_zones_follow_the_firms() -> None:
    ftmo1 = load_preset("ftmo-1step")["max_loss"]
    assert (ftmo1["kind"], ftmo1["lock_at_initial"]) == ("trailing_eod", False)
    five = load_preset("the5ers-high-stakes")
    assert five["daily_loss"]["breach_when"] == five["max_loss"]["breach_when"] == "at_or_below"
    assert (five["daily_loss"]["reset_time"], five["daily_loss"]["timezone"]) == (
        "17:00",
        "America/New_York",
    )
    top = load_preset("topstep-50k")
    assert (top["max_loss"]["breach_when"], top["daily_loss"]["breach_when"]) == (
        "below",
        "at_or_below",
    )
    fn = load_preset("fundednext-stellar-2step")
    assert (fn["daily_loss"]["anchor"], fn["max_loss"]["kind"]) == ("max_balance_equity", "static")


def test_preset_when_account_overrides_key_then_account_wins_key_by_key(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "defaults:\n  symbols: [{name: EURUSD}]\n"
        "  risk: {risk_percent: 2, daily_loss: {limit_percent: 4, reset_time: '01:00'}}\n"
        "accounts:\n  - id: a1\n"
        "    risk: {preset: ftmo-2step, initial_capital: 200000, max_loss: {limit_percent: 8}}\n",
    )
    risk = load_config(path).accounts[0].risk
    assert risk.initial_capital == 200000
    assert risk.max_loss.limit_percent == 8  # account over preset
    assert risk.max_loss.kind == "static"  # preset, sibling of the overridden key
    assert risk.daily_loss.limit_percent == 5  # preset over defaults
    assert risk.daily_loss.timezone == "Europe/Prague"
    assert risk.daily_loss.reset_time == "00:00"
    assert risk.risk_percent == 2  # defaults where the preset says nothing


def test_preset_when_named_in_defaults_then_applies_to_every_account(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "defaults:\n  symbols: [{name: EURUSD}]\n  risk: {preset: topstep-50k}\n"
        "accounts:\n  - id: a1\n  - id: a2\n    risk: {daily_loss: {reopen: reset}}\n",
    )
    a1, a2 = load_config(path).accounts
    assert (a1.risk.daily_loss.reopen, a2.risk.daily_loss.reopen) == ("next_day", "reset")
    assert a2.risk.max_loss.kind == "trailing_eod"


def test_preset_when_unknown_then_error_names_file_key_and_available(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "accounts:\n  - id: a1\n    symbols: [{name: EURUSD}]\n    risk: {preset: ftmo-3step}\n",
    )
    _, result = check_config(path)
    (error,) = result.errors
    assert error.file == str(path)
    assert error.path == "accounts[0].risk.preset"
    assert error.rule == "unknown_preset"
    for name in REQUIRED:
        assert name in error.message


def test_new_risk_keys_when_invalid_then_choice_error(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "accounts:\n  - id: a1\n    symbols: [{name: EURUSD}]\n"
        "    risk: {daily_loss: {breach_when: at}, max_loss: {basis: top}}\n",
    )
    _, result = check_config(path)
    assert {e.path for e in result.errors} == {
        "accounts[0].risk.daily_loss.breach_when",
        "accounts[0].risk.max_loss.basis",
    }


def test_validate_when_show_rules_then_resolved_rules_printed(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "accounts:\n  - id: a1\n    symbols: [{name: EURUSD}]\n"
        "    risk: {preset: ftmo-2step, initial_capital: 100000}\n",
    )
    result = CliRunner().invoke(
        app, ["config", "validate", "--show-rules", str(path)], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    assert "preset ftmo-2step" in result.output
    assert "timezone: Europe/Prague" in result.output
    assert "breach_when: below" in result.output
