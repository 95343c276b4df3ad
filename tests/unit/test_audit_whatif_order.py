"""`audit whatif` lists differences in fact-sequence order, `-` before `+` at one sequence."""

from __future__ import annotations

from engine.audit_replay import _seq_of


def test_whatif_differences_when_sorted_then_by_sequence_removal_first() -> None:
    lines = [
        "- seq 12 LiquidationOrdered rule=daily",
        "- seq 3 DrawdownWarning rule=daily",
        "+ seq 12 DrawdownWarning rule=daily",
        "+ seq 3 DrawdownBreached rule=daily",
        "+ seq 100 TradingStateChanged state=HALTED",
    ]
    assert sorted(lines, key=_seq_of) == [
        "- seq 3 DrawdownWarning rule=daily",
        "+ seq 3 DrawdownBreached rule=daily",
        "- seq 12 LiquidationOrdered rule=daily",
        "+ seq 12 DrawdownWarning rule=daily",
        "+ seq 100 TradingStateChanged state=HALTED",
    ]


def test_recorded_when_risk_read_after_more_commits_then_cut_at_the_tracking_position() -> None:
    from engine.audit_replay import Recorded
    from engine.store import plain_mapper
    from tests.unit.test_domain_support import Feed, rules

    feed = Feed(rules())
    feed.snapshot("100000.00")  # seq 2
    feed.snapshot("100000.00", "94000.00")  # seq 3: a breach, committed after tracking 2 was read
    mapper = plain_mapper()
    stored = [mapper.to_stored_event(e) for e in feed.log]
    recorded = Recorded.from_stored(stored, mapper, tracking=2)
    (events,) = recorded.by_aggregate.values()
    assert {e.event.seq for e in events} <= {1, 2}
    assert "DrawdownBreached" not in [e.type_name for e in events]
    assert len(
        Recorded.from_stored(stored, mapper, tracking=3).by_aggregate[feed.account.id]
    ) == len(stored)
