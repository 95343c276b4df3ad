"""The challenge's progress in the status and risk views, from the objective decisions
(domain/objective_rules.py): trading days counted, each objective's last value against its
target, and how the challenge ended."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

Handler = Callable[[dict[str, Any], str, dict[str, Any], dict[str, Any]], None]


def new_progress() -> dict[str, Any]:
    return {"trading_days": 0, "objectives": {}, "result": None, "rule": None, "since": None}


def _progress(risk: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
    """The progress both views share, created at the first objective decision."""
    progress: dict[str, Any] = status.get("objectives") or new_progress()
    status["objectives"] = risk["objectives"] = progress
    return progress


def _day(data: dict[str, Any], time: str, risk: dict[str, Any], status: dict[str, Any]) -> None:
    _progress(risk, status)["trading_days"] = data["count"]


def _objective(met: bool) -> Handler:
    def record(
        data: dict[str, Any], time: str, risk: dict[str, Any], status: dict[str, Any]
    ) -> None:
        _progress(risk, status)["objectives"][data["objective"]] = {
            "value": data["value"], "target": data["target"], "met": met, "since": time,
        }  # fmt: skip

    return record


def _passed(data: dict[str, Any], time: str, risk: dict[str, Any], status: dict[str, Any]) -> None:
    _progress(risk, status).update(result="passed", since=time)


def _failed(data: dict[str, Any], time: str, risk: dict[str, Any], status: dict[str, Any]) -> None:
    _progress(risk, status).update(
        result="failed", rule=data["rule"], reason=data["reason"], since=time
    )


OBJECTIVE_HANDLERS: Final[dict[str, Handler]] = {
    "TradingDayCounted": _day,
    "ObjectiveMet": _objective(met=True),
    "ObjectiveMissed": _objective(met=False),
    "ChallengePassed": _passed,
    "ChallengeFailed": _failed,
}
