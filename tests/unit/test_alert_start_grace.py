"""Unhealthy-agent alerts: none while an agent (re)starts, one once its start is overdue."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mtq.http.alerts import START_GRACE_S, unhealthy_alert

STARTED = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)
OLD_BEAT = (STARTED - timedelta(seconds=238)).isoformat()


def _doc(state: str, beat: str | None) -> dict[str, Any]:
    return {
        "account_id": "acc-a",
        "health": {
            "status": "UNHEALTHY",
            "reasons": ["heartbeat_missed"],
            "details": ["last heartbeat 238.0s ago"],
        },
        "heartbeat": None if beat is None else {"time": beat},
        "lifecycle": {"state": state, "since": STARTED.isoformat()},
    }


@pytest.mark.parametrize("state", ["CREATED", "STARTING", "RESTARTING"])
def test_unhealthy_when_agent_starting_then_no_alert(state: str) -> None:
    assert unhealthy_alert(_doc(state, OLD_BEAT), now=STARTED + timedelta(seconds=5)) is None


def test_unhealthy_when_running_on_the_old_runs_heartbeat_within_grace_then_no_alert() -> None:
    at = STARTED + timedelta(seconds=START_GRACE_S - 1)
    assert unhealthy_alert(_doc("RUNNING", OLD_BEAT), now=at) is None


def test_unhealthy_when_first_heartbeat_overdue_past_grace_then_alert() -> None:
    at = STARTED + timedelta(seconds=START_GRACE_S + 1)
    found = unhealthy_alert(_doc("RUNNING", OLD_BEAT), now=at)
    assert found == (f"unhealthy:acc-a:{OLD_BEAT}", "agent UNHEALTHY: last heartbeat 238.0s ago")


def test_unhealthy_when_current_run_has_beaten_then_alert_at_once() -> None:
    beat = (STARTED + timedelta(seconds=3)).isoformat()
    found = unhealthy_alert(_doc("RUNNING", beat), now=STARTED + timedelta(seconds=4))
    assert found is not None
    assert found[0] == f"unhealthy:acc-a:{beat}"


def test_unhealthy_when_no_lifecycle_known_then_alert() -> None:
    doc = _doc("RUNNING", OLD_BEAT) | {"lifecycle": None}
    assert unhealthy_alert(doc, now=STARTED) is not None
