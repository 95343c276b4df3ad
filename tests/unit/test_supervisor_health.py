from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from agents.supervisor.health import (
    Health,
    HealthReport,
    Reason,
    derive_health,
    liveness_report,
)
from bus.schemas import AgentHeartbeat
from config import AgentConfig

AGENT = AgentConfig(slow_terminal_ms=500, stale_feed_seconds=30)
TIMEOUT = 15.0


def beat(**changes: Any) -> AgentHeartbeat:
    fields: dict[str, Any] = {
        "account_id": "acc-1",
        "agent_id": "agent-acc-1",
        "pid": 123,
        "terminal_connected": True,
        "breaker_state": "closed",
        "terminal_latency_ms": 20.0,
        "last_tick_age_s": {"EURUSD": 0.5, "XAUUSD": 2.0},
        "time": datetime(2024, 5, 1, tzinfo=UTC),
    }
    fields.update(changes)
    return AgentHeartbeat(**fields)


def health(
    heartbeat: AgentHeartbeat | None, *, received_at: float | None = 100.0, now: float = 101.0
) -> HealthReport:
    return derive_health(
        heartbeat,
        received_at=received_at,
        started_at=90.0,
        now=now,
        agent=AGENT,
        heartbeat_timeout_s=TIMEOUT,
    )


def test_health_when_no_heartbeat_yet_then_unknown() -> None:
    report = health(None, received_at=None, now=100.0)
    assert report.status is Health.UNKNOWN
    assert not report.process_hung


def test_health_when_no_heartbeat_past_timeout_then_unhealthy_but_not_hung() -> None:
    report = health(None, received_at=None, now=105.1)
    assert report.status is Health.UNHEALTHY
    assert report.reasons == (Reason.NO_HEARTBEAT,)
    assert not report.process_hung  # only the liveness pipe tells a hung process


def test_health_when_all_good_then_healthy() -> None:
    report = health(beat())
    assert report.status is Health.HEALTHY
    assert report.reasons == ()


def test_health_when_heartbeats_missed_then_unhealthy_but_not_hung() -> None:
    report = health(beat(), received_at=100.0, now=115.5)
    assert report.status is Health.UNHEALTHY
    assert report.reasons == (Reason.HEARTBEAT_MISSED,)
    assert not report.process_hung
    assert "15.5s" in report.details[0]


def test_health_when_heartbeat_just_within_timeout_then_healthy() -> None:
    assert health(beat(), received_at=100.0, now=115.0).status is Health.HEALTHY


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"terminal_connected": False}, Reason.TERMINAL_DISCONNECTED),
        ({"breaker_state": "open"}, Reason.BREAKER_OPEN),
    ],
)
def test_health_when_terminal_down_or_breaker_open_then_unhealthy_not_hung(
    changes: dict[str, Any], reason: Reason
) -> None:
    report = health(beat(**changes))
    assert report.status is Health.UNHEALTHY
    assert report.reasons == (reason,)
    assert not report.process_hung


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"last_tick_age_s": {"EURUSD": 0.5, "XAUUSD": 30.5}}, Reason.STALE_FEED),
        ({"breaker_state": "half_open"}, Reason.BREAKER_HALF_OPEN),
        ({"terminal_latency_ms": 500.1}, Reason.SLOW_TERMINAL),
        ({"outbox_full": True}, Reason.OUTBOX_FULL),
    ],
)
def test_health_when_feed_stale_breaker_half_open_or_slow_then_degraded(
    changes: dict[str, Any], reason: Reason
) -> None:
    report = health(beat(**changes))
    assert report.status is Health.DEGRADED
    assert report.reasons == (reason,)


def test_health_when_stale_then_details_name_the_symbol() -> None:
    report = health(beat(last_tick_age_s={"EURUSD": 45.0, "GBPUSD": 1.0}))
    assert report.details == ("stale feed: EURUSD 45s",)


def test_health_when_thresholds_exactly_met_then_still_healthy() -> None:
    report = health(beat(terminal_latency_ms=500.0, last_tick_age_s={"EURUSD": 30.0}))
    assert report.status is Health.HEALTHY


def test_health_when_unhealthy_and_degraded_signs_then_unhealthy_wins() -> None:
    report = health(beat(terminal_connected=False, terminal_latency_ms=900.0))
    assert report.status is Health.UNHEALTHY
    assert report.reasons == (Reason.TERMINAL_DISCONNECTED,)


def test_health_when_several_degraded_signs_then_all_listed() -> None:
    report = health(beat(breaker_state="half_open", terminal_latency_ms=900.0))
    assert report.reasons == (Reason.BREAKER_HALF_OPEN, Reason.SLOW_TERMINAL)


def test_liveness_when_pipe_beat_within_timeout_then_none() -> None:
    assert liveness_report(alive_at=100.0, started_at=90.0, now=115.0, timeout_s=15.0) is None
    assert liveness_report(alive_at=None, started_at=90.0, now=105.0, timeout_s=15.0) is None


def test_liveness_when_pipe_silent_past_timeout_then_unresponsive_and_hung() -> None:
    report = liveness_report(alive_at=100.0, started_at=90.0, now=115.5, timeout_s=15.0)
    assert report is not None
    assert report.status is Health.UNHEALTHY
    assert report.reasons == (Reason.UNRESPONSIVE,)
    assert report.process_hung
    assert report.details == ("no sign of life for 15.5s",)


def test_liveness_when_no_beat_since_start_then_says_after_start() -> None:
    report = liveness_report(alive_at=None, started_at=90.0, now=105.5, timeout_s=15.0)
    assert report is not None
    assert report.details == ("no sign of life 15.5s after start",)


def test_liveness_when_short_timeout_then_a_new_process_still_gets_its_start_time() -> None:
    assert liveness_report(alive_at=None, started_at=90.0, now=99.0, timeout_s=1.0) is None
    assert liveness_report(alive_at=None, started_at=90.0, now=100.5, timeout_s=1.0) is not None
    assert liveness_report(alive_at=95.0, started_at=90.0, now=96.5, timeout_s=1.0) is not None
