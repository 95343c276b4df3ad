from __future__ import annotations

import pytest

from agents.supervisor.health import Health, HealthReport, Reason
from agents.supervisor.policy import RestartPolicy
from bus.backoff import Backoff
from config import SupervisorConfig


def test_backoff_when_defaults_then_60s_doubling_capped_at_one_hour() -> None:
    backoff = Backoff()
    delays = [backoff.delay(n) for n in range(8)]
    assert delays == [60, 120, 240, 480, 960, 1920, 3600, 3600]


def test_backoff_when_many_failures_then_stays_at_cap_without_overflow() -> None:
    assert Backoff(0.5, 2, 10).delay(10_000) == 10


def test_backoff_when_factor_one_then_constant() -> None:
    assert {Backoff(3, 1, 100).delay(n) for n in range(5)} == {3}


def test_backoff_when_bad_settings_then_refused() -> None:
    with pytest.raises(ValueError, match="factor"):
        Backoff(1, 0.5, 10)
    with pytest.raises(ValueError, match="positive"):
        Backoff(0, 2, 10)
    with pytest.raises(ValueError, match="negative"):
        Backoff().delay(-1)


def test_policy_when_built_from_config_then_uses_its_timings() -> None:
    policy = RestartPolicy.from_config(
        SupervisorConfig(
            restart_initial_delay_s=0.5,
            restart_factor=3,
            restart_max_delay_s=4,
            stop_timeout_s=2,
            heartbeat_timeout_s=5,
            health_check_interval_s=0.1,
            unhealthy_restart_after_s=7,
        )
    )
    assert [policy.backoff.delay(n) for n in range(4)] == [0.5, 1.5, 4, 4]
    assert policy.stop_timeout_s == 2
    assert policy.heartbeat_timeout_s == 5
    assert policy.check_interval_s == 0.1
    assert policy.unhealthy_restart_after_s == 7
    assert policy.healthy_reset_after_s == 600  # config default


def test_restart_reason_when_unresponsive_on_its_pipe_then_restart_at_once() -> None:
    report = HealthReport(Health.UNHEALTHY, (Reason.UNRESPONSIVE,), ("no sign of life for 20s",))
    reason = RestartPolicy().restart_reason(report, unhealthy_since=100.0, now=100.0)
    assert reason is not None
    assert reason == "unresponsive: no sign of life for 20s"


def test_restart_reason_when_only_heartbeats_missed_then_waits_like_any_unhealthy() -> None:
    policy = RestartPolicy(unhealthy_restart_after_s=300)
    report = HealthReport(Health.UNHEALTHY, (Reason.HEARTBEAT_MISSED,), ("last 20s ago",))
    assert policy.restart_reason(report, unhealthy_since=100.0, now=100.0) is None
    late = policy.restart_reason(report, unhealthy_since=100.0, now=400.0)
    assert late is not None
    assert "last 20s ago" in late


def test_restart_reason_when_terminal_disconnected_briefly_then_left_to_the_agent() -> None:
    policy = RestartPolicy(unhealthy_restart_after_s=300)
    report = HealthReport(Health.UNHEALTHY, (Reason.TERMINAL_DISCONNECTED,), ("disconnected",))
    assert policy.restart_reason(report, unhealthy_since=0.0, now=299.0) is None
    late = policy.restart_reason(report, unhealthy_since=0.0, now=300.0)
    assert late is not None
    assert "unhealthy for 300s" in late


def test_restart_reason_when_degraded_or_healthy_then_none() -> None:
    policy = RestartPolicy(unhealthy_restart_after_s=0)
    degraded = HealthReport(Health.DEGRADED, (Reason.STALE_FEED,), ("stale",))
    assert policy.restart_reason(degraded, unhealthy_since=None, now=1e6) is None
    assert (
        policy.restart_reason(HealthReport(Health.HEALTHY), unhealthy_since=None, now=1e6) is None
    )


def test_forgives_when_up_and_well_long_enough_then_true() -> None:
    policy = RestartPolicy(healthy_reset_after_s=600)
    assert not policy.forgives(healthy_since=None, now=1000)
    assert not policy.forgives(healthy_since=500, now=1099)
    assert policy.forgives(healthy_since=500, now=1100)
