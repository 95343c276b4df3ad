"""Subjects are named only in bus/subjects.py: no other source file spells one (issue 22).

Every string constant of the source tree (f-string parts too, docstrings excepted) is
searched for the start of a subject of mtq's families or of NATS' own (`$JS.`, `_INBOX.`).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parents[2]
SOURCES: Final = ("agents", "bench", "bus", "config", "domain", "engine", "mtq", "projections")
OWNER: Final = Path("bus/subjects.py")
SUBJECT: Final = re.compile(
    r"(?<![\w.-])(?:mt5|cmd|dlq)\.(?:[\w*>{-]|$)"
    r"|(?<![\w.-])mtq\.(?:risk|query|agents|projector)(?:\b|$)"
    r"|(?<![\w.-])risk\.(?:events|application|>)"
    r"|\$(?:JS|KV|SRV)\.|_INBOX\."
)
ALLOWED: Final = {
    # Help text showing the user an example subject (documentation, not a subject in use).
    ("mtq/commands/tail_cmd.py", "Subject or wildcard, e.g. 'mt5.ftmo-001.>'."),
    ("mtq/commands/nats_tools_cmd.py", "The subject, e.g. mtq.query.status."),
    (
        "mtq/commands/report_cmd.py",
        "Read the views database (sqlite:///PATH or postgresql://...) instead of asking the "
        "projector's mtq.query.analytics.",
    ),
    (
        "mtq/commands/status_cmd.py",
        'Print {"accounts": [...]} like mtq.agents.list, plus equity and currency (and, with a '
        "projector, balance, trading, drawdown, positions).",
    ),
}


def _docstrings(tree: ast.AST) -> set[int]:
    ids: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
        if isinstance(node, ast.Assign | ast.AnnAssign):
            pass
    # An attribute docstring: a bare string right after an assignment.
    for node in ast.walk(tree):
        for field in ("body", "orelse"):
            stmts = getattr(node, field, None)
            if isinstance(stmts, list):
                for stmt in stmts:
                    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
                        ids.add(id(stmt.value))
    return ids


def literals(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    skip = _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and id(node) not in skip:
            value = node.value
            text = value.decode("latin-1") if isinstance(value, bytes) else value
            if isinstance(text, str) and SUBJECT.search(text):
                found.append((node.lineno, text))
    return found


def test_source_tree_when_scanned_then_no_subject_literal_outside_bus_subjects() -> None:
    offenders = []
    for top in SOURCES:
        for path in sorted((ROOT / top).rglob("*.py")):
            relative = path.relative_to(ROOT)
            if relative == OWNER:
                continue
            for line, text in literals(path):
                if (relative.as_posix(), text) not in ALLOWED:
                    offenders.append(f"{relative}:{line}: {text!r}")
    assert offenders == [], "subject literals outside bus/subjects.py:\n" + "\n".join(offenders)


def test_scanner_when_given_a_literal_then_finds_it(tmp_path: Path) -> None:
    source = tmp_path / "x.py"
    source.write_text(
        '"""Docs may say mt5.acct.health."""\n'
        'A = "mt5.*.health"\nB = f"cmd.{a}.close_all"\nC = b"$JS.ACK."\nD = "mtq.http"\n'
        'E = "mtq.query.status"\n'
    )
    assert sorted(line for line, _ in literals(source)) == [2, 3, 4, 6]
