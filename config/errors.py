"""Validation issues, their result, and the exceptions config raises."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Issue:
    """One problem found in a config file, located by file, key path and (if known) line."""

    file: str
    path: str
    rule: str
    message: str
    line: int | None = None
    column: int | None = None

    def location(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return where

    def __str__(self) -> str:
        at = f" {self.path}:" if self.path else ""
        return f"{self.location()}:{at} {self.message} [{self.rule}]"


@dataclass(frozen=True)
class ValidationResult:
    """Every error and warning found, in file order."""

    errors: tuple[Issue, ...] = ()
    warnings: tuple[Issue, ...] = ()
    files: tuple[str, ...] = field(default=())

    @property
    def valid(self) -> bool:
        return not self.errors

    def merged(self, other: ValidationResult) -> ValidationResult:
        return ValidationResult(
            self.errors + other.errors, self.warnings + other.warnings, self.files + other.files
        )

    def lines(self) -> list[str]:
        """Errors then warnings, one line each."""
        return [f"error: {i}" for i in self.errors] + [f"warning: {i}" for i in self.warnings]


class ConfigError(Exception):
    """The configuration cannot be used; `result` holds every issue when there are several."""

    def __init__(self, message: str, result: ValidationResult | None = None) -> None:
        super().__init__(message)
        self.result = result

    @classmethod
    def from_result(cls, result: ValidationResult) -> ConfigError:
        head = f"invalid configuration ({len(result.errors)} error(s))"
        return cls("\n".join([head, *(str(i) for i in result.errors)]), result)


class ConfigFileError(ConfigError):
    """A config file is missing or unreadable (not a content problem)."""


class PasswordNotSetError(ConfigError):
    """An account's password environment variable is missing or empty."""


class UnknownAccountError(ConfigError, KeyError):
    """No account has the requested id."""

    def __init__(self, account_id: str, known: Iterable[str]) -> None:
        self.account_id = account_id
        self.known = tuple(known)
        listed = ", ".join(self.known) or "none"
        super().__init__(f"unknown account {account_id!r}; known accounts: {listed}")

    def __str__(self) -> str:
        return str(self.args[0])
