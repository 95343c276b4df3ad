"""`mtq config validate`: output and exit codes 0 (valid), 1 (invalid), 2 (unreadable)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from mtq.cli import app

DEMO = Path(__file__).resolve().parents[2] / "config" / "examples" / "demo.yaml"
runner = CliRunner()


def test_validate_when_demo_then_exit_0_and_accounts_listed() -> None:
    result = runner.invoke(app, ["config", "validate", str(DEMO)])
    assert result.exit_code == 0, result.output
    for account_id in ("ftmo-001", "trail-002", "strict-003"):
        assert account_id in result.output
    assert "valid: 3 account(s)" in result.output


def test_validate_when_warnings_only_then_exit_0_and_warning_shown(tmp_path: Path) -> None:
    cfg = tmp_path / "warn.yaml"
    cfg.write_text(
        "accounts:\n  - id: acc-1\n    password_env: MTQ_TEST_PW_UNSET\n"
        "    symbols: [{name: EURUSD}]\n    risk: {risk_percent: 8}\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["config", "validate", str(cfg)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "risk_percent_high" in result.output
    assert "$MTQ_TEST_PW_UNSET (not set)" in result.output


def test_validate_when_invalid_then_exit_1_and_errors_located(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(
        "accounts:\n  - id: acc.1\n    symbols: [{name: EURUSD}]\n    password: hunter2\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["config", "validate", str(cfg)])
    assert result.exit_code == 1, result.output
    assert f"{cfg}:2:5: accounts[0].id:" in result.output
    assert "[subject_token]" in result.output
    assert "[password_in_file]" in result.output
    assert "hunter2" not in result.output
    assert "invalid: 2 error(s)" in result.output


def test_validate_when_yaml_broken_then_exit_1_with_position(tmp_path: Path) -> None:
    cfg = tmp_path / "demo.yaml"
    cfg.write_text("accounts:\n  - id: x\n   bad: [\n", encoding="utf-8")
    result = runner.invoke(app, ["config", "validate", str(cfg)])
    assert result.exit_code == 1, result.output
    assert f"{cfg}:3:4:" in result.output


def test_validate_when_file_missing_then_exit_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["config", "validate", str(tmp_path / "absent.yaml")])
    assert result.exit_code == 2
    assert "not found" in result.output


def test_validate_when_run_as_installed_command_then_same_exit_codes(tmp_path: Path) -> None:
    mtq = Path(sys.executable).parent / "mtq"
    ok = subprocess.run([mtq, "config", "validate", DEMO], capture_output=True, check=False)
    missing = subprocess.run(
        [mtq, "config", "validate", tmp_path / "absent.yaml"], capture_output=True, check=False
    )
    help_ = subprocess.run([mtq, "config", "validate", "--help"], capture_output=True, check=False)
    assert (ok.returncode, missing.returncode, help_.returncode) == (0, 2, 0)
    assert b"ftmo-001" in ok.stdout
    assert b"Usage" in help_.stdout
