"""Config validation for `mtq.agents.validate`: every issue, or those touching one account."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from config import ConfigError, Issue, validate_files
from config.yaml_source import read_source

_ACCOUNT_PATH = re.compile(r"^accounts\[(\d+)\]")


def validate_accounts(paths: Sequence[str | Path], account_id: str | None) -> dict[str, Any]:
    """Validate the config files; with `account_id`, keep issues of that account and global ones."""
    try:
        result = validate_files(list(paths))
    except ConfigError as exc:
        issue = {"file": "", "path": "", "rule": "unreadable", "message": str(exc), "line": None}
        return {"account": account_id, "valid": False, "errors": [issue], "warnings": []}
    errors, warnings = list(result.errors), list(result.warnings)
    if account_id is not None:
        owners = _account_owners(paths)
        errors = [i for i in errors if _concerns(i, account_id, owners)]
        warnings = [i for i in warnings if _concerns(i, account_id, owners)]
    return {
        "account": account_id,
        "valid": not errors,
        "errors": [_issue(i) for i in errors],
        "warnings": [_issue(i) for i in warnings],
    }


def _account_owners(paths: Sequence[str | Path]) -> dict[tuple[str, int], str]:
    """(file, index in its `accounts` list) → account id."""
    owners: dict[tuple[str, int], str] = {}
    for path in paths:
        source, _ = read_source(path)
        data = source.data if source is not None else None
        accounts = data.get("accounts") if isinstance(data, dict) else None
        if not isinstance(accounts, list):
            continue
        for index, entry in enumerate(accounts):
            if isinstance(entry, dict) and isinstance(entry.get("id"), str):
                owners[(str(path), index)] = entry["id"]
    return owners


def _concerns(issue: Issue, account_id: str, owners: dict[tuple[str, int], str]) -> bool:
    match = _ACCOUNT_PATH.match(issue.path)
    if match is None:
        return True  # defaults, supervisor, syntax: they affect every account
    return owners.get((issue.file, int(match.group(1)))) == account_id


def _issue(issue: Issue) -> dict[str, Any]:
    return {
        "file": issue.file,
        "path": issue.path,
        "rule": issue.rule,
        "message": issue.message,
        "line": issue.line,
        "text": str(issue),
    }
