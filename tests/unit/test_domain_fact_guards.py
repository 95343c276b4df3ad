"""Snapshot order against the last observed time, and the account's currency (issue 16)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain import AccountState, FactOutOfOrder, FactRef, InvalidFact
from tests.unit.test_domain_support import T0, D, Feed, rules


def test_snapshot_when_earlier_than_an_unrecorded_one_then_out_of_order() -> None:
    feed = Feed(rules())
    feed.snapshot("100000", at=T0.replace(hour=10))
    assert feed.snapshot("100000", "100000.50", at=T0.replace(hour=10, minute=1, second=40)) == []
    with pytest.raises(FactOutOfOrder, match=r"observed at 2026-03-02T10:01:40"):
        feed.snapshot("100000", "94000", at=T0.replace(hour=10, second=50))
    assert feed.account.latest_snapshot_at == T0.replace(hour=10, minute=1, second=40)


def test_recall_when_restarted_then_the_latest_time_is_judged_as_before() -> None:
    feed = Feed(rules())
    feed.snapshot("100000", at=T0.replace(hour=10))
    unrecorded = AccountState(D("100000"), D("100000.50"))
    late = T0.replace(hour=10, minute=1, second=40)
    feed.account.observe_account(unrecorded, FactRef(7, late))
    restarted = Feed(rules())
    restarted.snapshot("100000", at=T0.replace(hour=10))
    assert restarted.account.latest_snapshot_at == T0.replace(hour=10)
    restarted.account.recall_snapshot(unrecorded, FactRef(7, late))
    assert restarted.account.latest_snapshot_at == late
    restarted.account.recall_snapshot(AccountState(D("1"), D("1")), FactRef(8, late))
    assert restarted.account.latest_snapshot_at == late  # a rejected one changes nothing


def test_snapshot_when_currency_changes_then_invalid_naming_both() -> None:
    feed = Feed(rules())
    feed.snapshot("100000")
    state = AccountState(D("100000"), D("90000"), currency="EUR")
    with pytest.raises(InvalidFact, match=r"currency 'EUR' differs from the account's 'USD'"):
        feed.account.observe_account(state, feed.ref(seconds=5))
    assert feed.collect() == []
    assert feed.account.latest_snapshot_at == T0 + timedelta(seconds=1)
