"""Issue 16 bug 6: the views say where the day's anchor came from ("estimated" is marked),
and a `reset --rebase` moves the view's anchor and daily floor."""

from __future__ import annotations

from typing import Any

from mtq.commands.status_cmd import status_cells
from projections.risk import apply_decision, new_risk
from projections.status import new_status

T = "2026-12-04T10:00:00+00:00"
RULES = {"daily_loss": {"limit_percent": "5"}, "max_loss": {"limit_percent": "10"}}


def _day(source: str) -> dict[str, Any]:
    return {
        "day": "2026-12-04", "start": T, "end": T, "initial_capital": 100000.0,
        "anchor": 103000.0, "anchor_balance": 103000.0, "anchor_equity": 103000.0,
        "daily_floor": 98000.0, "max_floor": 90000.0, "anchor_source": source,
    }  # fmt: skip


def test_first_day_when_anchor_estimated_then_view_and_status_mark_it() -> None:
    risk, status = new_risk("acc-1"), new_status("acc-1")
    apply_decision("AccountRegistered", {"rules": RULES}, T, 1, risk, status)
    apply_decision("TradingDayStarted", _day("estimated"), T, 2, risk, status)
    money = {"balance": 103000.0, "equity": 102000.0, "margin": 0.0, "margin_free": 1.0,
             "currency": "USD"}  # fmt: skip
    apply_decision("AccountStateRecorded", money, T, 3, risk, status)
    assert risk["day"]["anchor_source"] == "estimated"
    assert status["drawdown"]["daily"]["anchor_source"] == "estimated"
    row = {"account": "acc-1", "state": "RUNNING", "health": "HEALTHY", **status}
    assert "daily anchor estimated" in status_cells(row)[-1]
    rebased = {"anchor": 101000.0, "balance": 101000.0, "equity": 102000.0,
               "previous_anchor": 103000.0, "daily_floor": 96000.0, "actor": "alice",
               "reason": "x"}  # fmt: skip
    apply_decision("DayRebased", rebased, T, 4, risk, status)
    assert status["drawdown"]["daily"]["anchor_source"] == "rebased"
    assert status["drawdown"]["daily"]["floor"] == 96000.0
