"""Read a YAML config file, keeping the line and column of every key for error messages."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from config.errors import ConfigFileError, Issue

KeyPath = tuple[str | int, ...]


@dataclass(frozen=True)
class SourceFile:
    """One parsed config file: its data and where each key path sits in the text."""

    name: str
    data: Any
    positions: dict[KeyPath, tuple[int, int]] = field(default_factory=dict)

    def position(self, path: KeyPath) -> tuple[int, int] | None:
        """Line and column (1-based) of `path`, or of its nearest ancestor found in the file."""
        for end in range(len(path), -1, -1):
            found = self.positions.get(path[:end])
            if found is not None:
                return found
        return None

    def issue(self, path: KeyPath, rule: str, message: str) -> Issue:
        pos = self.position(path)
        line, column = pos if pos else (None, None)
        return Issue(self.name, format_path(path), rule, message, line, column)


def format_path(path: KeyPath) -> str:
    """`('accounts', 1, 'risk')` → `accounts[1].risk`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


class _Loader(yaml.SafeLoader):
    """Safe YAML whose dates stay strings: the models parse them, and a bad one is an issue."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def read_source(path: str | Path) -> tuple[SourceFile | None, list[Issue]]:
    """Parse `path`; a syntax error or duplicate key becomes an issue, a missing file raises."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigFileError(f"{name}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigFileError(f"{name}: cannot read: {exc}") from None
    return parse_source(text, name)


def parse_source(text: str, name: str) -> tuple[SourceFile | None, list[Issue]]:
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        return None, [_syntax_issue(name, exc)]
    except yaml.YAMLError as exc:
        return None, [Issue(name, "", "yaml_syntax", str(exc))]
    finally:
        loader.dispose()
    indexer = _Indexer(name)
    if node is not None:
        indexer.walk(node, ())
    return SourceFile(name, data, indexer.positions), indexer.issues


def _syntax_issue(name: str, exc: yaml.MarkedYAMLError) -> Issue:
    mark = exc.problem_mark or exc.context_mark
    what = exc.problem or exc.context or "invalid YAML"
    if exc.problem and exc.context:
        what = f"{exc.problem} ({exc.context})"
    if mark is None:
        return Issue(name, "", "yaml_syntax", what)
    return Issue(name, "", "yaml_syntax", what, mark.line + 1, mark.column + 1)


@dataclass
class _Indexer:
    name: str
    positions: dict[KeyPath, tuple[int, int]] = field(default_factory=dict)
    issues: list[Issue] = field(default_factory=list)
    seen: set[int] = field(default_factory=set)

    def walk(self, node: yaml.Node, path: KeyPath) -> None:
        if id(node) in self.seen:  # an alias: indexed where its anchor is
            return
        self.seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            self._mapping(node, path)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self._mark((*path, i), item.start_mark)
                self.walk(item, (*path, i))

    def _mapping(self, node: yaml.MappingNode, path: KeyPath) -> None:
        keys: set[str] = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if not isinstance(key, str) or key == "<<":
                continue
            where = (*path, key)
            if key in keys:
                mark = key_node.start_mark
                self.issues.append(
                    Issue(
                        self.name,
                        format_path(where),
                        "duplicate_key",
                        f"key {key!r} appears more than once (the last one would win)",
                        mark.line + 1,
                        mark.column + 1,
                    )
                )
            keys.add(key)
            self._mark(where, key_node.start_mark)
            self.walk(value_node, where)

    def _mark(self, path: KeyPath, mark: yaml.Mark) -> None:
        self.positions.setdefault(path, (mark.line + 1, mark.column + 1))
