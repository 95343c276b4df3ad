"""Issue 21 item 7: a frozen or lost nats-server is one BusUnreachable alert, not one
AgentUnhealthy per agent (while it lasts and for a heartbeat timeout after)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from mtq.http.alerts import BusQuiet, bus_alert

STARTED = "2026-12-04T20:00:00+00:00"
DOWN: dict[str, Any] = {"state": "unreachable", "problems": 1,
        "current": {"cause": "ping unanswered", "started": STARTED, "ended": None},
        "last": {"cause": "ping unanswered", "started": STARTED, "ended": None}}  # fmt: skip
UP: dict[str, Any] = {"state": "ok", "problems": 1, "current": None,
      "last": {"cause": "ping unanswered", "started": STARTED,
               "ended": "2026-12-04T20:00:20+00:00"}}  # fmt: skip


def test_bus_when_unreachable_then_one_alert_per_outage() -> None:
    found = bus_alert(DOWN)
    assert found is not None
    source, summary = found
    assert source == f"bus:{STARTED}"  # the same outage polled again: the same source
    assert summary.startswith(f"NATS unreachable since {STARTED}: ping unanswered")
    back = bus_alert(UP)  # learnt only once it answers again: the same outage, its end known
    assert back is not None
    assert back[0] == source
    assert back[1].startswith(f"NATS unreachable from {STARTED} to 2026-12-04T20:00:20")


def test_unhealthy_when_bus_down_or_just_back_then_quiet_then_alerting_again() -> None:
    quiet = BusQuiet(after_s=15.0)
    now = datetime(2026, 12, 4, 20, 0, 10, tzinfo=UTC)
    assert not quiet.quiet(now)
    quiet.observe(DOWN)
    assert quiet.quiet(now)
    quiet.observe(UP)
    back = datetime(2026, 12, 4, 20, 0, 20, tzinfo=UTC)
    assert quiet.quiet(back + timedelta(seconds=14))
    assert not quiet.quiet(back + timedelta(seconds=16))


def _alerter(said: list[str]) -> object:
    from mtq.http.alerter import Alerter
    from mtq.http.alerts import AlertStore
    from mtq.http.live import LiveHub
    from mtq.http.metrics import ApiMetrics
    from mtq.http.webhooks import Deliverer

    store = AlertStore(None)
    alerter = Alerter(store, Deliverer((), store), LiveHub(), ApiMetrics(), say=said.append)
    alerter.confirm_after_s = 0.05
    return alerter


def _missed(account: str) -> dict[str, object]:
    return {
        "account_id": account,
        "health": {"status": "UNHEALTHY", "reasons": ["heartbeat_missed"],
                   "details": ["no heartbeat for 16 s"]},
        "heartbeat": {"time": "2026-12-04T20:00:00+00:00"},
        "lifecycle": {"state": "RUNNING", "since": "2026-12-04T19:00:00+00:00"},
    }  # fmt: skip


async def test_missed_heartbeats_when_the_bus_was_down_then_one_bus_alert_only() -> None:
    import asyncio

    said: list[str] = []
    alerter: Any = _alerter(said)
    for account in ("a-1", "a-2", "a-3"):  # the docs written during the freeze arrive first
        alerter.on_status(_missed(account))
    just_back = {**UP, "last": {**UP["last"], "ended": datetime.now(UTC).isoformat()}}
    alerter.on_bus(just_back)  # then the API's poll learns the bus was down
    alerter.on_bus(just_back)  # and polls again: the same outage
    await asyncio.sleep(0.2)
    assert [line.split(": ")[1] for line in said] == ["BusUnreachable"]


async def test_missed_heartbeats_when_the_bus_was_fine_then_each_agent_alerts() -> None:
    import asyncio

    said: list[str] = []
    alerter: Any = _alerter(said)
    alerter.on_status(_missed("a-1"))
    await asyncio.sleep(0.2)
    assert len(said) == 1
    assert said[0].startswith("ALERT a-1: AgentUnhealthy")
