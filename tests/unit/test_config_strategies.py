"""The `strategies:` section (issue 17): validated against the accounts, one sizing each."""

from __future__ import annotations

from pathlib import Path

from config import check_config, load_config

BASE = """\
defaults:
  symbols: [{name: EURUSD, volume_step: 0.1, volume_min: 0.1}]
accounts:
  - id: a-1
  - id: a-2
strategies:
"""


def issues(tmp_path: Path, strategies: str) -> list[tuple[str, str]]:
    path = tmp_path / "c.yaml"
    path.write_text(BASE + strategies)
    _, result = check_config(path)
    return [(i.path, i.rule) for i in result.errors]


def test_a_valid_strategy_is_loaded_with_its_approval_per_account(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        BASE + "  - {name: demo, secret_env: MTQ_S, approval: {a-1: auto},"
        " sizing: {risk_percent: 0.5}}\n"
    )
    config = load_config(path)
    (demo,) = config.strategies
    assert demo.account_ids(config.account_ids) == ("a-1", "a-2")
    assert (demo.approval_for("a-1"), demo.approval_for("a-2")) == ("auto", "manual")
    assert demo.expires_after_seconds == 60
    assert config.accounts[0].symbols[0].volume_step == 0.1
    assert config.strategy("demo") is demo


def test_unknown_accounts_and_approvals_are_named_where_they_are(tmp_path: Path) -> None:
    found = issues(
        tmp_path,
        "  - {name: s, secret_env: MTQ_S, accounts: [a-1, nope], approval: {a-2: auto}}\n",
    )
    assert ("strategies[0].accounts[1]", "unknown_account") in found
    assert ("strategies[0].approval.a-2", "unknown_account") in found


def test_sizing_takes_exactly_one_and_names_are_unique(tmp_path: Path) -> None:
    found = issues(
        tmp_path,
        "  - {name: s, secret_env: MTQ_S, sizing: {fixed: 0.1, risk_percent: 1}}\n"
        "  - {name: t, secret_env: MTQ_S}\n"
        "  - {name: t, secret_env: MTQ_T}\n"
        "  - {name: u, secret_env: 'not a name'}\n",
    )
    assert ("strategies[0].sizing", "sizing") in found
    assert ("strategies[2].name", "duplicate_strategy") in found
    assert ("strategies[3].secret_env", "env_var_name") in found
