"""Validation rules (docs/architecture.md §7): each failure names file, key path and rule."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from config import ConfigError, ConfigFileError, Issue, load_config, validate_files

DEMO = Path(__file__).resolve().parents[2] / "config" / "examples" / "demo.yaml"

BASE = """\
accounts:
  - id: acc-1
    symbols: [{name: EURUSD}]
    risk: {}
"""


SYM = "symbols: [{name: EURUSD}]\n"


def _write(tmp_path: Path, text: str, name: str = "cfg.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def _account_yaml(body: str) -> str:
    """A one-account file whose account body is `body` (YAML indented at the account level)."""
    return "accounts:\n  - id: acc-1\n" + textwrap.indent(textwrap.dedent(body), "    ")


def _only_error(path: Path) -> Issue:
    result = validate_files(path)
    assert len(result.errors) == 1, result.lines()
    return result.errors[0]


def test_demo_when_validated_then_valid_without_warnings() -> None:
    result = validate_files(DEMO)
    assert result.valid, result.lines()
    assert result.warnings == ()
    config = load_config(DEMO)
    assert config.account_ids == ("ftmo-001", "trail-002", "strict-003")
    seeds = {a.terminal.simulator.seed for a in config.accounts}
    assert len(seeds) == 3
    assert config.account("ftmo-001").risk.daily_loss.timezone == "Europe/Prague"
    assert config.account("trail-002").risk.max_loss.kind == "trailing_intraday"
    strict = config.account("strict-003")
    assert strict.risk.max_positions == 2
    assert strict.risk.allowed_symbols == ("EURUSD", "XAUUSD")
    gold = strict.symbol("XAUUSD")
    assert (gold.digits, gold.contract_size) == (2, 100)
    assert config.account("ftmo-001").symbol("USDJPY").digits == 3
    assert all(a.agent.poll_interval_ms == 100 for a in config.accounts)
    assert config.supervisor.restart_initial_delay_s == 5
    # The demo's scripted drawdowns: a daily-loss breach on ftmo-001, a warning on trail-002.
    drops = {
        a.id: tuple((f.kind, f.drop_percent) for f in a.terminal.simulator.faults)
        for a in config.accounts
    }
    assert drops == {
        "ftmo-001": (("equity_drop", 7.0),),
        "trail-002": (("equity_drop", 3.4),),
        "strict-003": (),
    }


def test_base_file_when_validated_then_valid(tmp_path: Path) -> None:
    assert validate_files(_write(tmp_path, BASE)).valid


@pytest.mark.parametrize(
    ("body", "path", "rule"),
    [
        (SYM + "risk: {risk_percent: 0.05}", "risk.risk_percent", "range"),
        (SYM + "risk: {risk_percent: 11}", "risk.risk_percent", "range"),
        (SYM + "risk: {max_positions: 0}", "risk.max_positions", "range"),
        (
            SYM + "risk: {portfolio_risk_percent: 0.5}",
            "risk.portfolio_risk_percent",
            "range",
        ),
        (
            SYM + "risk: {portfolio_risk_percent: 21}",
            "risk.portfolio_risk_percent",
            "range",
        ),
        (
            SYM + "risk: {max_concurrent_trades: 0}",
            "risk.max_concurrent_trades",
            "range",
        ),
        ("symbols: []", "symbols", "symbols_required"),
        ("risk: {}", "symbols", "symbols_required"),
        ("symbols: [{name: ''}]", "symbols[0].name", "subject_token"),
        ("symbols: [{name: EUR.USD}]", "symbols[0].name", "subject_token"),
        ("symbols: [{name: EURUSD}, {name: EURUSD}]", "symbols", "duplicate_symbol"),
        (
            SYM + "risk: {daily_loss: {timezone: Mars/Olympus}}",
            "risk.daily_loss.timezone",
            "timezone",
        ),
        (
            SYM + "risk: {daily_loss: {reset_time: '24:00'}}",
            "risk.daily_loss.reset_time",
            "time_of_day",
        ),
        (
            SYM + "risk: {daily_loss: {limit_percent: 0}}",
            "risk.daily_loss.limit_percent",
            "range",
        ),
        (
            SYM + "risk: {max_loss: {limit_percent: 101}}",
            "risk.max_loss.limit_percent",
            "range",
        ),
        (
            SYM + "risk: {reconciliation: {volume_match_percent: -1}}",
            "risk.reconciliation.volume_match_percent",
            "range",
        ),
        (
            SYM + "risk: {warning_fraction: 1.5}",
            "risk.warning_fraction",
            "range",
        ),
        (
            SYM + "risk: {allowed_symbols: [EUR USD]}",
            "risk.allowed_symbols[0]",
            "subject_token",
        ),
        (
            SYM + "risk: {max_loss: {kind: weekly}}",
            "risk.max_loss.kind",
            "choice",
        ),
        (
            SYM + "risk: {actions: {daily_loss: panic}}",
            "risk.actions.daily_loss",
            "choice",
        ),
        (SYM + "password_env: 1PASS", "password_env", "env_var_name"),
        (SYM + "password_env: MY-PASS", "password_env", "env_var_name"),
        (SYM + "risk: {max_positions: many}", "risk.max_positions", "type"),
        (
            SYM + "agent: {poll_interval_ms: 0}",
            "agent.poll_interval_ms",
            "range",
        ),
        (
            SYM + "terminal: {simulator: {faults: [{kind: meteor, start_s: 1}]}}",
            "terminal.simulator.faults[0].kind",
            "choice",
        ),
        (
            SYM + "terminal: {simulator: {faults: [{kind: disconnect}]}}",
            "terminal.simulator.faults[0].start_s",
            "required",
        ),
    ],
)
def test_account_rule_when_broken_then_error_names_file_path_and_rule(
    tmp_path: Path, body: str, path: str, rule: str
) -> None:
    cfg = _write(tmp_path, _account_yaml(body))
    issue = _only_error(cfg)
    assert (issue.file, issue.path, issue.rule) == (str(cfg), f"accounts[0].{path}", rule)
    assert issue.line is not None
    assert issue.message


def test_account_id_when_dotted_or_spaced_then_subject_token_error(tmp_path: Path) -> None:
    cfg = _write(
        tmp_path,
        """\
        accounts:
          - {id: acc.1, symbols: [{name: EURUSD}]}
          - {id: acc 2, symbols: [{name: EURUSD}]}
        """,
    )
    result = validate_files(cfg)
    assert [(i.path, i.rule) for i in result.errors] == [
        ("accounts[0].id", "subject_token"),
        ("accounts[1].id", "subject_token"),
    ]
    assert "letters, digits" in result.errors[0].message


def test_unknown_key_when_nested_then_path_and_known_keys_given(tmp_path: Path) -> None:
    cfg = _write(
        tmp_path,
        """\
        accounts:
          - id: acc-1
            symbols: [{name: EURUSD}]
            risk:
              daily_loss:
                limit_pct: 5
        """,
    )
    issue = _only_error(cfg)
    assert (issue.path, issue.rule, issue.line, issue.column) == (
        "accounts[0].risk.daily_loss.limit_pct",
        "unknown_key",
        6,
        9,
    )
    assert "limit_percent" in issue.message  # the known keys are listed


def test_unknown_top_level_key_when_present_then_error(tmp_path: Path) -> None:
    issue = _only_error(_write(tmp_path, BASE + "acounts: []\n"))
    assert (issue.path, issue.rule, issue.line) == ("acounts", "unknown_key", 5)


def test_password_when_written_in_file_then_rejected_without_echoing_it(tmp_path: Path) -> None:
    cfg = _write(tmp_path, _account_yaml(SYM + "password: s3cr3t-value"))
    issue = _only_error(cfg)
    assert (issue.path, issue.rule) == ("accounts[0].password", "password_in_file")
    assert "s3cr3t-value" not in str(issue)


def test_yaml_syntax_error_when_parsed_then_reported_with_line_and_column(tmp_path: Path) -> None:
    cfg = _write(tmp_path, "accounts:\n  - id: x\n   bad: [\n", name="demo.yaml")
    issue = _only_error(cfg)
    assert issue.rule == "yaml_syntax"
    assert (issue.line, issue.column) == (3, 4)
    assert str(issue).startswith(f"{cfg}:3:4: ")


def test_yaml_duplicate_key_when_present_then_error(tmp_path: Path) -> None:
    cfg = _write(tmp_path, BASE + "    enabled: true\n    enabled: false\n")
    issue = _only_error(cfg)
    assert (issue.path, issue.rule, issue.line) == ("accounts[0].enabled", "duplicate_key", 6)


def test_errors_when_many_then_all_collected_in_line_order(tmp_path: Path) -> None:
    cfg = _write(
        tmp_path,
        """\
        accounts:
          - id: acc-1
            symbols: [{name: EURUSD}]
            risk: {risk_percent: 50, max_positions: 0}
          - id: acc.2
            symbols: []
        """,
    )
    result = validate_files(cfg)
    assert [(i.path, i.rule) for i in result.errors] == [
        ("accounts[0].risk.risk_percent", "range"),
        ("accounts[0].risk.max_positions", "range"),
        ("accounts[1].id", "subject_token"),
        ("accounts[1].symbols", "symbols_required"),
    ]
    with pytest.raises(ConfigError) as err:
        load_config(cfg)
    assert err.value.result is not None
    assert err.value.result.errors == result.errors
    assert "accounts[1].id" in str(err.value)


def test_risk_percent_when_above_five_then_warning_only(tmp_path: Path) -> None:
    cfg = _write(tmp_path, _account_yaml(SYM + "risk: {risk_percent: 6}"))
    result = validate_files(cfg)
    assert result.valid
    assert [(w.path, w.rule) for w in result.warnings] == [
        ("accounts[0].risk.risk_percent", "risk_percent_high")
    ]


def test_allowed_symbol_when_not_configured_then_warning(tmp_path: Path) -> None:
    cfg = _write(tmp_path, _account_yaml(SYM + "risk: {allowed_symbols: [GBPUSD]}"))
    result = validate_files(cfg)
    assert result.valid
    assert [(w.path, w.rule) for w in result.warnings] == [
        ("accounts[0].risk.allowed_symbols[0]", "allowed_symbol_unknown")
    ]


def test_duplicate_ids_when_in_one_file_then_error(tmp_path: Path) -> None:
    cfg = _write(tmp_path, BASE + "  - id: acc-1\n    symbols: [{name: GBPUSD}]\n")
    issue = _only_error(cfg)
    assert (issue.path, issue.rule) == ("accounts[1].id", "duplicate_id")


def test_duplicate_ids_when_in_two_files_then_error_names_both(tmp_path: Path) -> None:
    first = _write(tmp_path, BASE, "a.yaml")
    second = _write(tmp_path, BASE, "b.yaml")
    issue = _only_error_of(validate_files([first, second]).errors)
    assert (issue.file, issue.path, issue.rule) == (str(second), "accounts[0].id", "duplicate_id")
    assert str(first) in issue.message
    assert str(second) in issue.message


def _only_error_of(errors: tuple[Issue, ...]) -> Issue:
    assert len(errors) == 1, errors
    return errors[0]


def test_defaults_when_invalid_then_reported_once_under_defaults(tmp_path: Path) -> None:
    cfg = _write(
        tmp_path,
        """\
        defaults:
          risk: {risk_percent: 20}
          symbols: [{name: EURUSD}]
        accounts:
          - id: acc-1
          - id: acc-2
        """,
    )
    issue = _only_error(cfg)
    assert (issue.path, issue.rule, issue.line) == ("defaults.risk.risk_percent", "range", 2)


def test_supervisor_when_invalid_then_error_under_supervisor(tmp_path: Path) -> None:
    issue = _only_error(_write(tmp_path, BASE + "supervisor: {restart_initial_delay_s: -1}\n"))
    assert (issue.path, issue.rule) == ("supervisor.restart_initial_delay_s", "range")


def test_missing_file_when_validated_then_file_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError, match="not found"):
        validate_files(tmp_path / "absent.yaml")


def test_top_level_when_not_mapping_then_type_error(tmp_path: Path) -> None:
    issue = _only_error(_write(tmp_path, "- just\n- a list\n"))
    assert (issue.path, issue.rule) == ("", "type")
