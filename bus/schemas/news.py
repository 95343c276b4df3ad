"""Requests and replies of `mtq-risk`'s news and reload endpoints (`mtq news`, `mtq reload`).

`mtq.risk.calendar.<identity>` puts a calendar in force (admin only), `mtq.risk.news` lists
the calendar in force, `mtq.risk.reload.<identity>` re-reads the engine's config.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from bus.schemas.base import AccountId, Message


class NewsEventWire(Message, frozen=True, kw_only=True):
    time: datetime
    impact: Literal["low", "medium", "high"]
    title: str
    currencies: tuple[str, ...] = ()
    instruments: tuple[str, ...] = ()


class CalendarImportRequest(Message, frozen=True, kw_only=True):
    """Put this calendar in force on every account with a `news_blackout` rule."""

    source: str = ""
    """The file's name (no directory)."""
    events: tuple[NewsEventWire, ...]


class CalendarImportReply(Message, frozen=True, kw_only=True):
    digest: str
    events: int
    recorded: tuple[AccountId, ...] = ()
    """Accounts where `CalendarImported` was recorded now."""
    unchanged: tuple[AccountId, ...] = ()
    """Accounts where this calendar was already in force."""


class NewsListRequest(Message, frozen=True, kw_only=True):
    account_id: AccountId | None = None
    since: datetime | None = None
    """Only events at or after this time (default: all)."""


class CalendarInForce(Message, frozen=True, kw_only=True):
    account_id: AccountId
    digest: str | None = None
    source: str = ""
    blackout: bool = False
    """Whether the account has a `news_blackout` rule."""


class NewsListReply(Message, frozen=True, kw_only=True):
    accounts: tuple[CalendarInForce, ...] = ()
    events: tuple[NewsEventWire, ...] = ()
    """The events of the calendar in force (the first account's, or the one asked about)."""


class ReloadRequest(Message, frozen=True, kw_only=True):
    """Re-read the engine's config files and put changed limits in force."""


class ReloadReply(Message, frozen=True, kw_only=True):
    changed: tuple[AccountId, ...] = ()
    """Accounts whose limits changed (`LimitsChanged` with the actor) or that were added."""
    removed: tuple[AccountId, ...] = ()
    """Accounts no longer in the config (their aggregates stay; nothing more is configured)."""
    calendar: str | None = None
    """The digest of the config's calendar, when it names one."""
