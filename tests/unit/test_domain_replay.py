"""Replay determinism: events through the store's transcoder, rebuilds and snapshots."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bus.eventstore.transcoder import PlainJSONMapper, PlainJSONTranscoder
from domain import AccountRisk, AccountState, FactRef
from domain.rules import DailyLossRule, MaxLossRule, PositionLimits
from tests.unit.test_domain_support import D, Feed, position, rebuild, rules

MAPPER: PlainJSONMapper[Any] = PlainJSONMapper(transcoder=PlainJSONTranscoder())


def scripted() -> Feed:
    """A history touching most decisions: days, positions, limits, warnings, grace, control."""
    feed = Feed(
        rules(
            daily_loss=DailyLossRule(timezone="Europe/Prague", anchor="max_balance_equity"),
            max_loss=MaxLossRule(kind="trailing_intraday", limit_percent=D(8)),
            position_limits=PositionLimits(max_positions=2),
            liquidation_grace_seconds=5.0,
            breach_confirmations=2,
        )
    )
    feed.snapshot("100000.00", at=datetime(2026, 3, 28, 12, tzinfo=UTC))
    feed.open(1, sl=D("1.09"))
    feed.open(2, "XAUUSD", price_open=D("2350.00"))
    feed.open(3)
    feed.account.observe_order_result("acc-1-8", True, "closed", feed.ref())
    feed.close(3)
    feed.snapshot("100000.00", "101000.00")
    feed.snapshot("100500.00", "96000.00")
    feed.snapshot("100500.00", "94900.00")
    feed.snapshot("100500.00", "94900.00")
    feed.snapshot("100500.00", "97000.00", seconds=2)
    feed.close(2, "XAUUSD")
    feed.check(sl=D("1.0999"))
    feed.check(volume="0")
    feed.control("pause", actor="ops")
    feed.modify(1, sl=D("1.095"))
    feed.close(1, realized="-15.5")
    feed.snapshot("100484.50", "96800.00", at=datetime(2026, 3, 29, 23, tzinfo=UTC))
    feed.control("reset", actor="ops")
    return feed


def encoded(events: list[Any]) -> list[tuple[str, bytes, bytes]]:
    out = []
    for event in events:
        stored = MAPPER.to_stored_event(event)
        out.append((stored.topic, stored.state, stored.types))  # type: ignore[attr-defined]
    return out


def through_store(events: list[Any]) -> list[Any]:
    return [MAPPER.to_domain_event(MAPPER.to_stored_event(e)) for e in events]


TAIL: list[Callable[[AccountRisk, int], None]] = [
    lambda a, s: a.observe_account(AccountState(D("100484.50"), D("90000.00")), ref(s)),
    lambda a, s: a.observe_account(AccountState(D("100484.50"), D("90000.00")), ref(s)),
    lambda a, s: a.observe_opened(position(9), ref(s)),
    lambda a, s: a.observe_account(AccountState(D("100484.50"), D("90000.00")), ref(s, 10)),
]


def ref(seq: int, seconds: int = 0) -> FactRef:
    return FactRef(seq, datetime(2026, 3, 30, 8, tzinfo=UTC) + timedelta(seconds=seq + seconds))


def continue_with(account: AccountRisk) -> list[tuple[str, bytes, bytes]]:
    for i, step in enumerate(TAIL):
        step(account, 100 + i)
    return encoded(list(account.collect_events()))


def test_replay_when_events_through_transcoder_then_byte_identical() -> None:
    feed = scripted()
    once = encoded(feed.log)
    assert encoded(through_store(feed.log)) == once
    assert len({topic for topic, _, _ in once}) >= 19


def test_replay_when_rebuilt_from_stored_events_then_same_state_and_next_decisions() -> None:
    feed = scripted()
    rebuilt = rebuild(through_store(feed.log))
    assert rebuilt == feed.account
    assert rebuilt.summary() == feed.account.summary()
    assert rebuilt.rules == feed.account.rules
    live_tail = continue_with(feed.account)
    assert live_tail
    assert continue_with(rebuilt) == live_tail


def test_snapshot_when_encoded_and_decoded_then_same_summary_and_decisions() -> None:
    feed = scripted()
    snapshot = AccountRisk.Snapshot.take(feed.account)
    stored = MAPPER.to_stored_event(snapshot)
    assert MAPPER.to_stored_event(MAPPER.to_domain_event(stored)).state == stored.state
    restored = MAPPER.to_domain_event(stored).mutate(None)  # type: ignore[attr-defined]
    assert isinstance(restored, AccountRisk)
    assert restored == feed.account
    assert restored.summary() == feed.account.summary()
    feed.account.observe_account(AccountState(D("1"), D("1")), ref(50))  # live mutates on
    assert snapshot.state["_balance"] != D("1.00")  # the snapshot kept its own copy
    fresh = scripted()
    assert continue_with(restored) == continue_with(fresh.account)


def test_event_timestamps_when_recorded_then_fact_times_not_wall_clock() -> None:
    feed = scripted()
    assert all(e.timestamp.year == 2026 for e in feed.log)
    assert {e.account_id for e in feed.log} == {"acc-1"}


steps = st.lists(
    st.tuples(st.integers(1, 20_000), st.integers(-3000, 3000), st.integers(-4000, 4000)),
    min_size=1,
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(
    walk=steps,
    kind=st.sampled_from(["trailing_eod", "trailing_intraday"]),
    basis=st.sampled_from(["initial", "peak"]),
)
def test_trailing_floor_when_random_snapshots_then_never_falls_and_rebuild_equal(
    walk: list[tuple[int, int, int]], kind: str, basis: str
) -> None:
    max_loss = MaxLossRule(kind=kind, basis=basis, limit_percent=D(6), action="alert")  # type: ignore[arg-type]
    feed = Feed(rules(daily_loss=DailyLossRule(action="alert"), max_loss=max_loss))
    balance = 100_000
    floors = []
    for minutes, balance_step, floating in walk:
        balance = max(1_000, balance + balance_step)
        equity = max(0, balance + floating)
        feed.snapshot(f"{balance}.00", f"{equity}.00", seconds=minutes * 60)
        floors.append(D(feed.account.summary()["limits"]["max"]["floor"]))
    assert floors == sorted(floors)
    assert rebuild(through_store(feed.log)) == feed.account
