"""The risk view from the engine's decisions: limits in force, values, breaches, state changes."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final
from uuid import UUID

from projections.objectives import OBJECTIVE_HANDLERS
from projections.status import refresh_drawdown

LOGGED: Final = frozenset(
    {
        "AccountRegistered",
        "LimitsChanged",
        "TradingDayStarted",
        "DayRebased",
        "FeedStale",
        "FeedRestored",
        "ScheduleWarning",
        "ScheduleFlattened",
        "ScheduleReleased",
        "NewsWindowOpened",
        "NewsStopNearWindow",
        "NewsWindowViolation",
        "DrawdownWarning",
        "DrawdownRecovered",
        "DrawdownBreached",
        "LiquidationPending",
        "LiquidationCancelled",
        "LiquidationOrdered",
        "PositionLimitViolated",
        "PositionCloseOrdered",
        "TradingStateChanged",
        "OrderDenied",
        "PeakEquityRaised",
        "EndOfDayBalanceRecorded",
        "ObjectiveMet",
        "ObjectiveMissed",
        "ChallengePassed",
        "ChallengeFailed",
        "CrossHedgeDetected",
        "GroupLimitViolated",
    }
)
"""Decisions kept one row each in `proj_risk_events` (the rest are counted)."""
MATTERING: Final = (LOGGED - {"PeakEquityRaised", "EndOfDayBalanceRecorded"}) | {"OrderApproved"}
"""Decisions the status view shows as an account's `last_decision` (not the bookkeeping of
every snapshot, position and peak)."""
_SKIP: Final = frozenset({"originator_id", "originator_version", "timestamp"})


def jsonable(value: Any) -> Any:
    """JSON-ready copy of decision values: Decimals as numbers, times as ISO strings."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def body(event: Any) -> dict[str, Any]:
    """A decision's fields as plain data (without id, version and timestamp)."""
    return {k: jsonable(v) for k, v in vars(event).items() if k not in _SKIP}


def new_risk(account_id: str) -> dict[str, Any]:
    return {
        "account_id": account_id,
        "rules": None,
        "trading": {"state": "ACTIVE", "reason": "", "actor": "", "since": None, "holds": {}},
        "day": None,
        "recorded": None,
        "limits": {"daily": None, "max": None},
        "rule_state": {r: {"warned": False, "breached": False} for r in ("daily", "max")},
        "counts": {
            "breaches": 0,
            "warnings": 0,
            "state_changes": 0,
            "violations": 0,
            "liquidations": 0,
            "denied": 0,
            "approved": 0,
        },
        "last_breach": None,
        "last_warning": None,
        "version": 0,
    }


def _limit(
    rule: str, reference: float | None, floor: float | None, rules: dict[str, Any] | None
) -> dict[str, Any] | None:
    if floor is None or reference is None:
        return None
    section = (rules or {}).get("daily_loss" if rule == "daily" else "max_loss") or {}
    return {
        "reference": reference,
        "floor": floor,
        "limit_percent": _num(section.get("limit_percent")),
        "kind": section.get("kind", "daily" if rule == "daily" else None),
    }


def _num(value: Any) -> float | None:
    return None if value is None else float(value)


def _max_reference(risk: dict[str, Any]) -> float | None:
    rules = risk.get("rules") or {}
    day = risk.get("day") or {}
    kind = (rules.get("max_loss") or {}).get("kind", "static")
    initial = day.get("initial_capital")
    if kind == "static":
        return _num(initial)
    return _num(day.get("high") or initial)


def _relimit(risk: dict[str, Any], status: dict[str, Any]) -> None:
    day = risk.get("day") or {}
    rules = risk.get("rules")
    daily = _limit("daily", _num(day.get("anchor")), _num(day.get("daily_floor")), rules)
    if daily is not None:
        daily["anchor_source"] = day.get("anchor_source", "recorded")
    risk["limits"] = {
        "daily": daily,
        "max": _limit("max", _max_reference(risk), _num(day.get("max_floor")), rules),
    }
    status["limits"] = risk["limits"]
    refresh_drawdown(status)


def apply_decision(  # noqa: PLR0917 - one decision and the two views it evolves
    kind: str,
    data: dict[str, Any],
    time: str,
    nid: int,
    risk: dict[str, Any],
    status: dict[str, Any],
) -> None:
    """Evolve the risk and status views with one decision."""
    risk["version"] += 1
    handler = _HANDLERS.get(kind)
    if handler is not None:
        handler(data, time, risk, status)
    if kind in MATTERING:
        status["last_decision"] = {"type": kind, "time": time, "notification_id": nid}


def _rules(data: dict[str, Any], time: str, risk: dict[str, Any], status: dict[str, Any]) -> None:
    risk["rules"] = data["rules"]
    if risk["trading"]["since"] is None:
        risk["trading"] = {
            **risk["trading"],
            "reason": "registered",
            "actor": "risk",
            "since": time,
        }
        status["trading"] = risk["trading"]
    _relimit(risk, status)


def _day(data: dict[str, Any], time: str, risk: dict[str, Any], status: dict[str, Any]) -> None:
    high = (risk.get("day") or {}).get("high")
    risk["day"] = {
        "day": data["day"],
        "start": data["start"],
        "end": data["end"],
        "initial_capital": data["initial_capital"],
        "anchor": data["anchor"],
        "anchor_balance": data["anchor_balance"],
        "anchor_equity": data["anchor_equity"],
        "daily_floor": data["daily_floor"],
        "max_floor": data["max_floor"],
        "high": high if high is not None else data["initial_capital"],
        "anchor_source": data.get("anchor_source", "recorded"),
    }
    risk["rule_state"]["daily"] = {"warned": False, "breached": False}
    _relimit(risk, status)


def _rebased(data: dict[str, Any], time: str, risk: dict[str, Any], status: dict[str, Any]) -> None:
    day = dict(risk.get("day") or {})
    day.update(
        anchor=data["anchor"],
        anchor_balance=data["balance"],
        anchor_equity=data["equity"],
        daily_floor=data["daily_floor"],
        anchor_source="rebased",
    )
    risk["day"] = day
    risk["rule_state"]["daily"] = {"warned": False, "breached": False}
    _relimit(risk, status)


def _floor(data: dict[str, Any], time: str, risk: dict[str, Any], status: dict[str, Any]) -> None:
    day = dict(risk.get("day") or {})
    day["high"] = data.get("peak", data.get("high"))
    day["max_floor"] = data["max_floor"]
    risk["day"] = day
    _relimit(risk, status)


def _recorded(
    data: dict[str, Any], time: str, risk: dict[str, Any], status: dict[str, Any]
) -> None:
    risk["recorded"] = {
        k: data[k] for k in ("balance", "equity", "margin", "margin_free", "currency")
    } | {"time": time}


def _warning(data: dict[str, Any], time: str, risk: dict[str, Any], status: dict[str, Any]) -> None:
    risk["rule_state"][data["rule"]]["warned"] = True
    risk["counts"]["warnings"] += 1
    risk["last_warning"] = {**data, "time": time}


def _recovered(
    data: dict[str, Any], time: str, risk: dict[str, Any], status: dict[str, Any]
) -> None:
    risk["rule_state"][data["rule"]] = {"warned": data["warned"], "breached": False}


def _breach(data: dict[str, Any], time: str, risk: dict[str, Any], status: dict[str, Any]) -> None:
    risk["rule_state"][data["rule"]] = {"warned": True, "breached": True}
    risk["counts"]["breaches"] += 1
    risk["last_breach"] = {**data, "time": time}


def _state(data: dict[str, Any], time: str, risk: dict[str, Any], status: dict[str, Any]) -> None:
    risk["trading"] = {
        "state": data["state"],
        "reason": data["reason"],
        "actor": data["actor"],
        "since": time,
        "holds": data["holds"],
    }
    risk["counts"]["state_changes"] += 1
    status["trading"] = risk["trading"]


def _counter(name: str) -> Any:
    def count(
        data: dict[str, Any], time: str, risk: dict[str, Any], status: dict[str, Any]
    ) -> None:
        risk["counts"][name] += 1

    return count


_HANDLERS: Final = {
    "AccountRegistered": _rules,
    "LimitsChanged": _rules,
    "TradingDayStarted": _day,
    "DayRebased": _rebased,
    "PeakEquityRaised": _floor,
    "EndOfDayBalanceRecorded": _floor,
    "AccountStateRecorded": _recorded,
    "DrawdownWarning": _warning,
    "DrawdownRecovered": _recovered,
    "DrawdownBreached": _breach,
    "TradingStateChanged": _state,
    "PositionLimitViolated": _counter("violations"),
    "LiquidationOrdered": _counter("liquidations"),
    "OrderDenied": _counter("denied"),
    "OrderApproved": _counter("approved"),
    **OBJECTIVE_HANDLERS,
}
