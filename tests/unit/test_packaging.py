"""The image and the wheel carry every package the code imports."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _packages() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    include = project["tool"]["setuptools"]["packages"]["find"]["include"]
    return {name.rstrip("*") for name in include}


def test_wheel_when_built_then_includes_every_top_level_package() -> None:
    found = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests", "bench"}
    assert found <= _packages(), f"not in pyproject's package list: {found - _packages()}"


def test_dockerfile_when_read_then_copies_every_package() -> None:
    copied = set(re.findall(r"^COPY (\w+) \1$", (ROOT / "Dockerfile").read_text(), re.M))
    assert _packages() <= copied, f"Dockerfile misses {_packages() - copied}"
