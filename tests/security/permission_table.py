"""The README's Security table, parsed: what each identity is documented to be allowed.

A row names an identity (`agent-<acct>` stands for every account), what it publishes and
subscribes (backquoted subjects, or names from the legend below the table such as `info` or
`read(MT5)`), whether it answers requests and its max payload. The legend lines
(``- `read(<S>)`: `…`, `…` ``) give each name's subjects, `<S>` replaced by the argument.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

README: Final = Path(__file__).resolve().parents[2] / "README.md"
EVERYTHING: Final = "everything"
_CODE = re.compile(r"`([^`]+)`")
_CALL = re.compile(r"^(?P<name>[a-z-]+)\((?P<arg>[^)]*)\)$")
_LEGEND = re.compile(r"^- `(?P<key>[a-z-]+(?:\(<[A-Za-z]+>\))?)`: (?P<body>.*)$")


@dataclass(frozen=True)
class Documented:
    """One identity as the table documents it; `pub`/`sub` None: everything."""

    name: str
    pub: frozenset[str] | None
    sub: frozenset[str] | None
    responds: bool
    max_payload: int


def security_section(text: str) -> str:
    start = text.index("\n## Security\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def _legend(section: str) -> dict[str, tuple[str | None, list[str]]]:
    """name → (placeholder or None, subjects)."""
    found: dict[str, tuple[str | None, list[str]]] = {}
    for line in section.splitlines():
        match = _LEGEND.match(line)
        if match is None:
            continue
        key, subjects = match["key"], _CODE.findall(match["body"])
        call = _CALL.match(key)
        if call is None:
            found[key] = (None, subjects)
        else:
            found[call["name"]] = (call["arg"], subjects)
    return found


def _expand(cell: str, legend: dict[str, tuple[str | None, list[str]]]) -> frozenset[str] | None:
    if cell.strip() == EVERYTHING:
        return None
    out: set[str] = set()
    for item in _CODE.findall(cell):
        call = _CALL.match(item)
        name, arg = (call["name"], call["arg"]) if call else (item, None)
        if name not in legend:
            out.add(item)
            continue
        placeholder, subjects = legend[name]
        if (placeholder is None) != (arg is None):
            raise ValueError(f"README Security table: {item!r} does not match its legend")
        out.update(s.replace(placeholder, arg) if placeholder and arg else s for s in subjects)
    return frozenset(out)


def documented(
    accounts: list[str], text: str | None = None, strategies: list[str] | None = None
) -> dict[str, Documented]:
    """Every identity of a config with `accounts` (and `strategies`), as the README says."""
    section = security_section(text if text is not None else README.read_text("utf-8"))
    legend = _legend(section)
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    if not rows:
        raise ValueError("README Security section has no identity table")
    found: dict[str, Documented] = {}
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        if len(cells) != 5:
            raise ValueError(f"README Security table row has {len(cells)} cells: {row}")
        (template,) = _CODE.findall(cells[0])
        placeholder, values = (
            ("<acct>", accounts) if "<acct>" in template
            else ("<name>", strategies or []) if "<name>" in template
            else ("", [""])
        )  # fmt: skip
        for value in values:
            cell = [c.replace(placeholder, value) if placeholder else c for c in cells]
            name = template.replace(placeholder, value) if placeholder else template
            found[name] = Documented(
                name=name,
                pub=_expand(cell[1], legend),
                sub=_expand(cell[2], legend),
                responds=cell[3] == "yes",
                max_payload=int(cell[4]) if cell[4].isdigit() else -1,
            )
    return found
