"""Errors the supervisor reports to callers."""

from __future__ import annotations


class UnknownAccount(KeyError):
    """The account is not in the supervisor's config."""

    def __init__(self, account_id: str) -> None:
        super().__init__(account_id)
        self.account_id = account_id

    def __str__(self) -> str:
        return f"unknown account {self.account_id!r}"
