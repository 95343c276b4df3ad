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
