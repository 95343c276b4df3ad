"""Issue 18: the challenge's progress in the status and risk views, from the objective
decisions as the engine records them."""

from __future__ import annotations

from typing import Any

from projections.risk import apply_decision, new_risk
from projections.status import new_status


def test_objective_decisions_when_folded_then_progress_and_result_shown() -> None:
    risk, status = new_risk("ftmo-1"), new_status("ftmo-1")
    log = [
        ("TradingDayCounted", {"day": "2026-03-02", "count": 1}),
        ("ObjectiveMet", {"objective": "profit_target", "value": 110000.0, "target": 110000.0}),
        ("ObjectiveMissed", {"objective": "profit_target", "value": 109000.0, "target": 110000.0}),
        ("TradingDayCounted", {"day": "2026-03-03", "count": 2}),
        ("ObjectiveMet", {"objective": "best_day", "value": 50.0, "target": 50.0}),
    ]
    for n, (kind, data) in enumerate(log, 1):
        apply_decision(kind, data, f"2026-03-0{1 + n // 4}T10:00:0{n}+00:00", n, risk, status)
    shown: dict[str, Any] = status["objectives"]
    assert shown is risk["objectives"]
    assert shown["trading_days"] == 2
    assert shown["objectives"]["profit_target"]["met"] is False
    assert shown["objectives"]["profit_target"]["value"] == 109000.0
    assert shown["objectives"]["best_day"]["met"] is True
    assert shown["result"] is None
    apply_decision("ChallengeFailed", {"rule": "max", "reason": "max loss breached"},
                   "2026-03-03T11:00:00+00:00", 9, risk, status)  # fmt: skip
    ended = status["objectives"]
    assert (ended["result"], ended["rule"]) == ("failed", "max")
    assert status["last_decision"]["type"] == "ChallengeFailed"


def test_no_objective_decisions_when_trading_then_no_progress_shown() -> None:
    risk, status = new_risk("acc"), new_status("acc")
    apply_decision("OrderApproved", {}, "2026-03-02T10:00:00+00:00", 1, risk, status)
    assert "objectives" not in status
