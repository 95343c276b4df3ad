"""The status view's `last_decision` is the last decision that matters, not bookkeeping."""

from __future__ import annotations

from projections.risk import MATTERING, apply_decision, new_risk
from projections.status import new_status


def test_last_decision_when_bookkeeping_follows_a_liquidation_then_it_stays() -> None:
    risk, status = new_risk("acc-1"), new_status("acc-1")
    apply_decision("LiquidationOrdered", {}, "2026-12-04T10:00:00+00:00", 7, risk, status)
    money = {"balance": 1.0, "equity": 1.0, "margin": 0.0, "margin_free": 1.0, "currency": "USD"}
    later = "2026-12-04T10:00:05+00:00"
    apply_decision("AccountStateRecorded", money, later, 8, risk, status)
    for nid, kind in enumerate(("PositionTracked", "CommandAnswered", "PositionReleased"), 9):
        apply_decision(kind, {}, later, nid, risk, status)
    assert status["last_decision"] == {
        "type": "LiquidationOrdered",
        "time": "2026-12-04T10:00:00+00:00",
        "notification_id": 7,
    }
    assert risk["version"] == 5


def test_last_decision_set_when_it_matters() -> None:
    assert {"DrawdownBreached", "LiquidationOrdered", "TradingStateChanged"} <= MATTERING
    assert not {"AccountStateRecorded", "PeakEquityRaised", "PositionTracked"} & MATTERING
