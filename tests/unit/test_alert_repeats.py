"""Issue 16: the new decisions alert, and no alert repeats more than once a minute for one
cause (a liquidation order always alerts)."""

from __future__ import annotations

from mtq.http.alerts import RepeatFilter, decision_alert


def _at(seconds: int) -> str:
    return f"2026-03-02T10:{seconds // 60:02d}:{seconds % 60:02d}+00:00"


def test_same_cause_when_within_a_minute_then_raised_once() -> None:
    repeats = RepeatFilter()
    breach = {"account_id": "trail-002", "rule": "daily"}
    raised = [repeats.admits("DrawdownBreached", breach, _at(s)) for s in range(0, 130, 10)]
    assert raised.count(True) == 3  # at 0, 60 and 120 s
    assert repeats.dropped == 10
    assert repeats.admits("DrawdownBreached", {**breach, "rule": "max"}, _at(125))
    assert repeats.admits("DrawdownBreached", {**breach, "account_id": "ftmo-001"}, _at(125))
    assert repeats.admits("LiquidationCancelled", breach, _at(125))


def test_liquidation_order_when_repeated_then_always_raised() -> None:
    repeats = RepeatFilter()
    order = {"account_id": "a", "rule": "daily"}
    assert all(repeats.admits("LiquidationOrdered", order, _at(s)) for s in (0, 1, 2))


def test_new_decisions_when_recorded_then_alert_summaries_name_the_numbers() -> None:
    cancelled = decision_alert(
        "LiquidationCancelled",
        {"rule": "daily", "value": 95150.0, "floor": 95000.0, "grace_used": 6.0},
    )
    assert cancelled == (
        "liquidation cancelled (daily): equity 95150.00 recovered above floor 95000.00; "
        "6.00 s of grace used today"
    )
    close = decision_alert(
        "PositionCloseOrdered",
        {"identifier": 7, "ticket": 7, "volume": 0.1, "reason": "opened_while_halted"},
    )
    assert close == "position 7 (ticket 7, 0.10 lots) ordered closed: opened_while_halted"
    stale = decision_alert(
        "FeedStale",
        {"last_snapshot": "2026-03-02T10:00:00+00:00", "positions": 2, "action": "alert"},
    )
    assert stale is not None
    assert "no snapshot since 2026-03-02T10:00:00+00:00 with 2 position(s) open" in stale
    assert decision_alert("PeakConfirmationCounted", {}) is None


def test_schedule_decisions_when_recorded_then_alerts_say_when() -> None:
    warning = decision_alert(
        "ScheduleWarning",
        {
            "rule": "flat_by",
            "label": "flat_by 15:10 America/Chicago",
            "due": "2026-03-02T21:10:00+00:00",
            "positions": 2,
        },
    )
    assert warning == (
        "flat_by 15:10 America/Chicago: positions close at 2026-03-02T21:10:00+00:00 (2 open now)"
    )
    flat = decision_alert(
        "ScheduleFlattened",
        {
            "rule": "flat_by",
            "label": "",
            "due": "2026-03-02T21:10:00+00:00",
            "positions": 1,
            "reopens": "2026-03-02T23:00:00+00:00",
        },
    )
    assert flat is not None
    assert "flat at 2026-03-02T21:10:00+00:00, 1 position(s) closed" in flat


def test_challenge_end_when_recorded_then_alert_names_the_numbers_or_the_rule() -> None:
    passed = decision_alert(
        "ChallengePassed",
        {"objectives": {"profit_target": {"value": "110000.00", "target": "110000.00"}}},
    )
    assert passed == "challenge passed: profit_target 110000.00 (target 110000.00)"
    failed = decision_alert("ChallengeFailed", {"rule": "max", "reason": "max loss breached"})
    assert failed == "challenge failed: max loss breached (rule max)"
    assert decision_alert("ObjectiveMet", {"objective": "best_day"}) is None
