"""Merge strategies combining `defaults:` with each account (docs/architecture.md §7)."""

from __future__ import annotations

import copy
import importlib
from collections.abc import Callable, Mapping
from typing import Any, Final, Literal, get_args

from config.errors import ConfigError

MergeStrategy = Literal["default", "override", "custom"]
STRATEGIES: Final[tuple[str, ...]] = get_args(MergeStrategy)
MergeFunction = Callable[[Mapping[str, Any], Mapping[str, Any]], Mapping[str, Any]]
"""A custom merge: (defaults, account) -> merged account, all plain YAML data."""


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """`over` wins key by key; nested mappings merge, anything else (lists too) is replaced."""
    merged: dict[str, Any] = copy.deepcopy(dict(base))
    for key, value in over.items():
        old = merged.get(key)
        if isinstance(old, Mapping) and isinstance(value, Mapping):
            merged[key] = deep_merge(old, value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def override_merge(defaults: Mapping[str, Any], account: Mapping[str, Any]) -> dict[str, Any]:
    """Each section the account names replaces the default section whole."""
    return {**copy.deepcopy(dict(defaults)), **copy.deepcopy(dict(account))}


def load_merge_function(spec: str) -> MergeFunction:
    """Import `module:callable`; ConfigError saying what went wrong otherwise."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(f"merge_function {spec!r} must look like 'package.module:callable'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"merge_function {spec!r}: cannot import {module_name}: {exc}") from None
    func: Any = module
    for part in attr.split("."):
        func = getattr(func, part, None)
        if func is None:
            raise ConfigError(f"merge_function {spec!r}: {module_name} has no {attr}")
    if not callable(func):
        raise ConfigError(f"merge_function {spec!r} is not callable")
    result: MergeFunction = func
    return result


def merge_account(
    strategy: str,
    defaults: Mapping[str, Any],
    account: Mapping[str, Any],
    function: MergeFunction | None = None,
) -> dict[str, Any]:
    """Combine `defaults` and one `account` with the chosen strategy."""
    if strategy == "override":
        return override_merge(defaults, account)
    if strategy == "custom":
        if function is None:
            raise ConfigError("merge strategy 'custom' needs merge_function: 'module:callable'")
        merged = function(copy.deepcopy(dict(defaults)), copy.deepcopy(dict(account)))
        if not isinstance(merged, Mapping):
            raise ConfigError(f"merge_function returned {type(merged).__name__}, not a mapping")
        return dict(merged)
    return deep_merge(defaults, account)


def preset_name(defaults: Mapping[str, Any], account: Mapping[str, Any]) -> Any:
    """The preset an account names in `risk.preset`, else the one `defaults` names, else None."""
    for source in (account, defaults):
        risk = source.get("risk")
        if isinstance(risk, Mapping) and risk.get("preset") is not None:
            return risk["preset"]
    return None


def merge_preset(
    strategy: str,
    defaults: Mapping[str, Any],
    account: Mapping[str, Any],
    merged: Mapping[str, Any],
    preset: Mapping[str, Any],
) -> dict[str, Any]:
    """Put a preset's risk keys under the account's own: defaults < preset < account.

    With `override` the account's risk section (or else the defaults') goes over the preset;
    with `custom` the merged risk section does.
    """
    result = dict(merged)
    if strategy == "default":
        base = deep_merge(_risk(defaults), preset)
        result["risk"] = deep_merge(base, _risk(account))
    elif strategy == "override":
        own = _risk(account) if "risk" in account else _risk(defaults)
        result["risk"] = deep_merge(preset, own)
    else:
        result["risk"] = deep_merge(preset, _risk(merged))
    return result


def _risk(section: Mapping[str, Any]) -> Mapping[str, Any]:
    risk = section.get("risk")
    return risk if isinstance(risk, Mapping) else {}
