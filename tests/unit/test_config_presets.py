"""Presets: shipped rule sets merged under the account's own risk keys."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from config import check_config, load_config
from config.presets import PRESET_DIR, available_presets, load_preset, preset_version
from mtq.cli import app

REQUIRED = ("ftmo-1step", "ftmo-2step", "the5ers-high-stakes", "topstep-50k")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cfg.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_presets_when_listed_then_required_ones_ship_with_source_and_date() -> None:
    assert set(REQUIRED) <= set(available_presets())
    for name in REQUIRED:
        text = (PRESET_DIR / f"{name}.yaml").read_text(encoding="utf-8")
        assert "https://" in text
        assert "read 2026-12-01" in text
        assert preset_version(name) >= 1
        assert load_preset(name)["daily_loss"]["enabled"] is True


@pytest.mark.parametrize("name", REQUIRED)
def test_preset_when_used_alone_then_valid_account(tmp_path: Path, name: str) -> None:
    path = write(
        tmp_path,
        f"accounts:\n  - id: a1\n    symbols: [{{name: EURUSD}}]\n    risk: {{preset: {name}}}\n",
    )
    config, result = check_config(path)
    assert result.valid, result.lines()
    assert config is not None
    assert config.accounts[0].risk.preset == name


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
        "accounts:\n  - id: a1\n    symbols: [{name: EURUSD}]\n    risk: {preset: ftmo-2step}\n",
    )
    result = CliRunner().invoke(
        app, ["config", "validate", "--show-rules", str(path)], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    assert "preset ftmo-2step" in result.output
    assert "timezone: Europe/Prague" in result.output
    assert "breach_when: below" in result.output
