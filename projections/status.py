"""The status view of one account: agent lifecycle and health, money, drawdown, trading state.

Everything stored comes from the log (fact and decision times, never the projector's clock),
so a rebuild gives the same rows. Whether heartbeats have stopped is a matter of now: readers
apply `overlay_now` (the KV mirror, `mtq.query.status`, `mtq status`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

from bus.schemas import AccountSnapshot, AgentHeartbeat, AgentLifecycleChanged
from projections.settings import AccountSettings

DISCONNECTED_STATES: Final = frozenset({"STOPPING", "STOPPED", "FAILED", "RESTARTING"})


def new_status(account_id: str) -> dict[str, Any]:
    return {
        "account_id": account_id,
        "lifecycle": None,
        "health": {"status": "UNKNOWN", "reasons": ["no_heartbeat"], "details": []},
        "heartbeat": None,
        "account": None,
        "trading": {"state": "ACTIVE", "reason": "", "actor": "", "since": None, "holds": {}},
        "limits": {"daily": None, "max": None},
        "drawdown": {"daily": None, "max": None},
        "positions": {"open": 0, "lots": 0.0, "closed": 0, "realized": 0.0},
        "orders": {"executed": 0, "rejected": 0, "last": None},
        "last_decision": None,
        "counts": {"facts": 0, "decisions": 0, "unapplied": 0, "unapplied_by_reason": {}},
        "last_fact_time": None,
    }


def agent_connected(status: dict[str, Any]) -> bool:
    """Whether the broker's side is known: agent running and its terminal connected."""
    life = status.get("lifecycle")
    if life is not None and life["state"] in DISCONNECTED_STATES:
        return False
    beat = status.get("heartbeat")
    return beat is None or bool(beat["terminal_connected"])


def apply_heartbeat(status: dict[str, Any], fact: AgentHeartbeat, s: AccountSettings) -> None:
    ages = dict(fact.last_tick_age_s)
    status["heartbeat"] = {
        "time": fact.time.isoformat(),
        "agent_id": fact.agent_id,
        "pid": fact.pid,
        "terminal_connected": fact.terminal_connected,
        "breaker_state": fact.breaker_state,
        "terminal_latency_ms": fact.terminal_latency_ms,
        "last_tick_age_s": ages,
        "max_tick_age_s": max(ages.values()) if ages else None,
        "events_buffered": fact.events_buffered,
        "outbox_full": fact.outbox_full,
        "last_error": fact.last_error,
    }
    status["health"] = health_of(fact, s)


def health_of(fact: AgentHeartbeat, s: AccountSettings) -> dict[str, Any]:
    """HEALTHY, DEGRADED or UNHEALTHY from one heartbeat (the supervisor's rules)."""
    bad: list[tuple[str, str]] = []
    if not fact.terminal_connected:
        bad.append(("terminal_disconnected", "terminal disconnected"))
    if fact.breaker_state == "open":
        bad.append(("breaker_open", "circuit breaker open"))
    if bad:
        return _health("UNHEALTHY", bad)
    stale = sorted(
        (sym, age) for sym, age in fact.last_tick_age_s.items() if age > s.stale_feed_seconds
    )
    if stale:
        listed = ", ".join(f"{sym} {age:.0f}s" for sym, age in stale)
        bad.append(("stale_feed", f"stale feed: {listed}"))
    if fact.breaker_state == "half_open":
        bad.append(("breaker_half_open", "circuit breaker half-open"))
    if fact.terminal_latency_ms > s.slow_terminal_ms:
        bad.append(("slow_terminal", f"terminal latency {fact.terminal_latency_ms:.0f} ms"))
    if fact.outbox_full:
        bad.append(("outbox_full", "outbox full"))
    return _health("DEGRADED", bad) if bad else _health("HEALTHY", [])


def _health(state: str, found: list[tuple[str, str]]) -> dict[str, Any]:
    return {"status": state, "reasons": [r for r, _ in found], "details": [d for _, d in found]}


def apply_lifecycle(status: dict[str, Any], fact: AgentLifecycleChanged) -> None:
    status["lifecycle"] = {
        "state": fact.state,
        "previous": fact.previous_state,
        "reason": fact.reason,
        "restart_count": fact.restart_count,
        "pid": fact.pid,
        "since": fact.time.isoformat(),
    }
    if fact.state in DISCONNECTED_STATES:
        status["health"] = _health(
            "UNKNOWN", [("agent_" + fact.state.lower(), f"agent {fact.state}")]
        )


def apply_snapshot(status: dict[str, Any], fact: AccountSnapshot) -> None:
    status["account"] = {
        "balance": fact.balance,
        "equity": fact.equity,
        "margin": fact.margin,
        "margin_free": fact.margin_free,
        "margin_level": fact.margin_level,
        "profit": fact.profit,
        "currency": fact.currency,
        "login": fact.login,
        "server": fact.server,
        "time": fact.time.isoformat(),
    }
    refresh_drawdown(status)


def refresh_drawdown(status: dict[str, Any]) -> None:
    """Daily and max drawdown from the last equity and the limits the engine recorded."""
    account = status.get("account")
    equity = None if account is None else account["equity"]
    for rule in ("daily", "max"):
        limit = status["limits"].get(rule)
        if limit is None or limit.get("floor") is None:
            status["drawdown"][rule] = None
            continue
        reference, floor = limit["reference"], limit["floor"]
        budget = round(reference - floor, 2)
        loss = None if equity is None else round(max(0.0, reference - equity), 2)
        used = None
        if loss is not None and budget > 0:
            used = round(loss / budget * 100, 2)
        status["drawdown"][rule] = {
            "value": loss,
            "budget": budget,
            "reference": reference,
            "floor": floor,
            "equity": equity,
            "percent_used": used,
            "headroom": None if equity is None else round(equity - floor, 2),
            "anchor_source": limit.get("anchor_source"),
        }


def overlay_now(
    status: dict[str, Any], now: datetime | None = None, timeout_s: float = 15.0
) -> dict[str, Any]:
    """The stored status as of now: UNHEALTHY once heartbeats stopped for `timeout_s`."""
    beat = status.get("heartbeat")
    life = status.get("lifecycle")
    if beat is None or (life is not None and life["state"] in DISCONNECTED_STATES):
        return status
    moment = now or datetime.now(UTC)
    silent = (moment - datetime.fromisoformat(beat["time"])).total_seconds()
    if silent <= timeout_s:
        return status
    health = dict(status["health"])
    health["status"] = "UNHEALTHY"
    health["reasons"] = ["heartbeat_missed", *health["reasons"]]
    health["details"] = [f"last heartbeat {silent:.1f}s ago", *health["details"]]
    return {**status, "health": health, "stale": True}


def is_stale(status: dict[str, Any], now: datetime | None = None, timeout_s: float = 15.0) -> bool:
    """Whether the agent's facts are stale now (heartbeats stopped)."""
    return bool(overlay_now(status, now, timeout_s).get("stale"))
