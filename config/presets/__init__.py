"""Versioned prop-firm rule sets: `risk: {preset: NAME}` merges an account's risk keys over one.

Each `NAME.yaml` here holds `version` (bumped whenever the rules change, so recorded
decisions can say which version applied) and `risk` (keys of `RiskConfig`), and cites in
comments the firm's public rule page and the date the rules were read.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any, Final

import yaml

from config.errors import ConfigError

PRESET_DIR: Final = Path(__file__).parent


def available_presets() -> tuple[str, ...]:
    """Names of the presets that ship with mtq, sorted."""
    return tuple(sorted(p.stem for p in PRESET_DIR.glob("*.yaml")))


def preset_path(name: str) -> Path:
    return PRESET_DIR / f"{name}.yaml"


@cache
def load_preset(name: str) -> dict[str, Any]:
    """The `risk` mapping of preset `name`; ConfigError naming the available ones if unknown."""
    if name not in available_presets():
        raise ConfigError(
            f"unknown preset {name!r}; available presets: {', '.join(available_presets())}"
        )
    path = preset_path(name)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    risk = data.get("risk") if isinstance(data, dict) else None
    if not isinstance(risk, dict):
        raise ConfigError(f"{path}: a preset needs a 'risk' mapping")
    return risk


def preset_version(name: str) -> int:
    """The `version` of preset `name`."""
    data = yaml.safe_load(preset_path(name).read_text(encoding="utf-8"))
    version = data.get("version", 1) if isinstance(data, dict) else 1
    return int(version)
