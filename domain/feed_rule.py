"""The stale-feed rule of `AccountRisk`: no snapshot for a while with positions open."""

from __future__ import annotations

from datetime import datetime, timedelta

from domain import events as ev
from domain.account_base import HOLDING, RISK_ACTOR, AccountBase
from domain.errors import InvalidFact
from domain.inputs import (
    FactRef,
)
from domain.trading_state import (
    SEVERITY,
    most_severe,
)


class FeedRules(AccountBase):
    def check_clock_skew(self, reported: datetime, stored_at: datetime) -> None:
        """Refuse a fact stamped more than `feed.max_clock_skew_seconds` ahead of the
        moment the bus stored it: the log's own clock, recorded with every fact, so a
        replay refuses exactly what the live run refused."""
        limit = self.rules.feed.max_clock_skew_seconds
        ahead = reported - stored_at
        if ahead > timedelta(seconds=limit):
            raise InvalidFact(
                f"account {self.account_id}: time {reported.isoformat()} is "
                f"{ahead.total_seconds():.0f} s ahead of when the bus stored the fact "
                f"({stored_at.isoformat()}): over feed.max_clock_skew_seconds {limit:g}"
            )

    def observe_clock(self, at: FactRef) -> None:
        """Time from a fact that is not a snapshot (a heartbeat): is the account data stale?

        No snapshot for `feed.stale_after_seconds` while positions are open records
        FeedStale once and applies `feed.action` (alert, reduce or halt).
        """
        feed = self.rules.feed
        latest = self.latest_snapshot_at
        if getattr(self, "_feed_stale", False) or not self._positions or latest is None:
            return
        if (at.time - latest).total_seconds() <= feed.stale_after_seconds:
            return
        holds = HOLDING.get(feed.action)
        self._record(
            ev.FeedStale,
            at,
            last_snapshot=latest,
            stale_after_seconds=feed.stale_after_seconds,
            positions=len(self._positions),
            action=feed.action,
            holds=holds,
        )
        if holds is not None:
            self._hold(holds, f"feed stale: no account snapshot since {latest.isoformat()}", at)

    def _restore_feed(self, last_seen: datetime | None, at: FactRef) -> None:
        self._record(ev.FeedRestored, at, stale_since=last_seen)
        target = most_severe(list(self._holds.values()))
        if SEVERITY[target] < SEVERITY[self._state]:
            self._change_state(target, "feed restored", RISK_ACTOR, at)
