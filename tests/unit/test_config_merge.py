"""Merge strategies and loading several files."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from config import load_config, validate_files
from config.merge import deep_merge, override_merge

DEFAULTS = """\
defaults:
  symbols: [{name: EURUSD}, {name: XAUUSD, digits: 2, contract_size: 100}]
  risk:
    risk_percent: 2
    max_positions: 4
    daily_loss: {limit_percent: 4, timezone: Europe/Prague}
  agent: {poll_interval_ms: 250}
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_deep_merge_when_nested_then_account_wins_key_by_key() -> None:
    base = {"risk": {"a": 1, "daily": {"x": 1, "y": 2}}, "symbols": [1, 2]}
    over = {"risk": {"daily": {"y": 3}}, "symbols": [9]}
    assert deep_merge(base, over) == {"risk": {"a": 1, "daily": {"x": 1, "y": 3}}, "symbols": [9]}
    assert base["risk"] == {"a": 1, "daily": {"x": 1, "y": 2}}  # inputs untouched


def test_override_merge_when_section_given_then_replaced_whole() -> None:
    base = {"risk": {"a": 1, "b": 2}, "agent": {"p": 1}}
    assert override_merge(base, {"risk": {"b": 3}}) == {"risk": {"b": 3}, "agent": {"p": 1}}


def test_default_merge_when_account_sets_one_key_then_other_defaults_kept(tmp_path: Path) -> None:
    cfg = _write(
        tmp_path,
        "cfg.yaml",
        DEFAULTS
        + """\
accounts:
  - id: acc-1
    risk: {max_positions: 2, daily_loss: {limit_percent: 3}}
  - id: acc-2
    symbols: [{name: GBPUSD}]
""",
    )
    config = load_config(cfg)
    one, two = config.accounts
    assert one.risk.max_positions == 2
    assert one.risk.risk_percent == 2
    assert one.risk.daily_loss.limit_percent == 3
    assert one.risk.daily_loss.timezone == "Europe/Prague"
    assert one.agent.poll_interval_ms == 250
    assert one.symbol_names == ("EURUSD", "XAUUSD")
    assert two.symbol_names == ("GBPUSD",)
    assert two.risk.max_positions == 4


def test_override_merge_when_account_sets_risk_then_default_risk_dropped(tmp_path: Path) -> None:
    cfg = _write(
        tmp_path,
        "cfg.yaml",
        "merge: override\n"
        + DEFAULTS
        + """\
accounts:
  - id: acc-1
    risk: {max_positions: 2}
""",
    )
    account = load_config(cfg).account("acc-1")
    assert account.risk.max_positions == 2
    assert account.risk.risk_percent == 1.0  # the model default, not the defaults section
    assert account.risk.daily_loss.timezone == "UTC"
    assert account.agent.poll_interval_ms == 250  # sections the account does not name stay


MERGE_MODULE = '''\
def risk_from_defaults(defaults, account):
    """Accounts may not loosen risk: defaults' risk section always wins."""
    merged = {**defaults, **account}
    merged["risk"] = defaults.get("risk", {})
    return merged


def broken(defaults, account):
    raise RuntimeError("boom")
'''


def test_custom_merge_when_function_given_then_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "mtq_test_merge.py").write_text(MERGE_MODULE, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    cfg = _write(
        tmp_path,
        "cfg.yaml",
        "merge: custom\nmerge_function: 'mtq_test_merge:risk_from_defaults'\n"
        + DEFAULTS
        + "accounts:\n  - {id: acc-1, risk: {max_positions: 50}}\n",
    )
    account = load_config(cfg).account("acc-1")
    assert account.risk.max_positions == 4
    assert account.agent.poll_interval_ms == 250


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("'mtq_test_merge:broken'", "merge failed: boom"),
        ("'mtq_test_merge:absent'", "has no absent"),
        ("'no_such_module_xyz:f'", "cannot import"),
        ("'missing-colon'", "package.module:callable"),
    ],
)
def test_custom_merge_when_function_bad_then_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spec: str, expected: str
) -> None:
    (tmp_path / "mtq_test_merge.py").write_text(MERGE_MODULE, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    cfg = _write(
        tmp_path,
        "cfg.yaml",
        f"merge: custom\nmerge_function: {spec}\n" + DEFAULTS + "accounts:\n  - {id: acc-1}\n",
    )
    result = validate_files(cfg)
    assert len(result.errors) == 1, result.lines()
    assert result.errors[0].rule == "merge_function"
    assert expected in result.errors[0].message


def test_custom_merge_when_no_function_then_error(tmp_path: Path) -> None:
    cfg = _write(tmp_path, "cfg.yaml", "merge: custom\n" + DEFAULTS + "accounts: [{id: a}]\n")
    result = validate_files(cfg)
    assert [(i.path, i.rule) for i in result.errors] == [("merge_function", "merge_function")]


def test_merge_when_unknown_strategy_then_choice_error(tmp_path: Path) -> None:
    cfg = _write(tmp_path, "cfg.yaml", "merge: smart\n" + DEFAULTS + "accounts: [{id: a}]\n")
    result = validate_files(cfg)
    assert [(i.path, i.rule) for i in result.errors] == [("merge", "choice")]


def test_files_when_several_then_later_add_accounts_and_override_defaults(tmp_path: Path) -> None:
    defaults = _write(
        tmp_path, "defaults.yaml", DEFAULTS + "supervisor: {restart_initial_delay_s: 30}\n"
    )
    first = _write(tmp_path, "team-a.yaml", "accounts: [{id: acc-1}]\n")
    second = _write(
        tmp_path,
        "team-b.yaml",
        """\
        defaults:
          risk: {max_positions: 7}
        supervisor: {restart_max_delay_s: 600}
        accounts: [{id: acc-2, enabled: false}]
        """,
    )
    config = load_config([defaults, first, second])
    assert config.account_ids == ("acc-1", "acc-2")
    assert config.source == (str(defaults), str(first), str(second))
    for account in config.accounts:
        assert account.risk.max_positions == 7  # later defaults apply to every account
        assert account.risk.risk_percent == 2  # earlier defaults not overridden stay
    assert config.supervisor.restart_initial_delay_s == 30
    assert config.supervisor.restart_max_delay_s == 600
    assert [a.id for a in config.enabled_accounts()] == ["acc-1"]


def test_files_when_account_error_then_reported_in_its_own_file(tmp_path: Path) -> None:
    defaults = _write(tmp_path, "defaults.yaml", DEFAULTS)
    accounts = _write(tmp_path, "accounts.yaml", "accounts:\n  - {id: acc-1, enabled: maybe}\n")
    result = validate_files([defaults, accounts])
    assert [(i.file, i.path, i.rule, i.line) for i in result.errors] == [
        (str(accounts), "accounts[0].enabled", "type", 2)
    ]
