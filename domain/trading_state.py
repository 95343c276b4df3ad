"""Trading states (NautilusTrader style) and the operator controls that move between them."""

from __future__ import annotations

from typing import Final, Literal, get_args

TradingState = Literal["ACTIVE", "REDUCING", "HALTED"]
"""ACTIVE: anything goes; REDUCING: only orders that shrink exposure; HALTED: nothing new."""
ControlAction = Literal["pause", "resume", "halt", "reset"]

TRADING_STATES: Final[tuple[TradingState, ...]] = get_args(TradingState)
CONTROL_ACTIONS: Final[tuple[ControlAction, ...]] = get_args(ControlAction)
SEVERITY: Final[dict[str, int]] = {"ACTIVE": 0, "REDUCING": 1, "HALTED": 2}
OPERATOR_HOLD: Final = "operator"
"""The hold an operator's pause or halt puts on the account (see `AccountRisk.holds`)."""


def most_severe(states: list[TradingState] | tuple[TradingState, ...]) -> TradingState:
    """The most restrictive of `states`; ACTIVE when there are none."""
    result: TradingState = "ACTIVE"
    for state in states:
        if SEVERITY[state] > SEVERITY[result]:
            result = state
    return result


def holds_after_control(  # noqa: PLR0911 - one return per (action, state) case reads best
    action: ControlAction, state: TradingState, holds: dict[str, TradingState]
) -> tuple[dict[str, TradingState] | None, str | None]:
    """The holds after an operator `action`: (new holds, None), (None, why not), or no-op.

    A no-op returns (None, None). Holds name what keeps the account below ACTIVE: a rule
    (`daily`, `max`, `position_limits`, `portfolio`) or the operator.
    """
    if action == "reset":
        return ({}, None) if state != "ACTIVE" or holds else (None, None)
    if action == "halt":
        return (None, None) if state == "HALTED" else ({**holds, OPERATOR_HOLD: "HALTED"}, None)
    if action == "pause":
        if state == "HALTED":
            return None, "cannot pause: the account is HALTED (reset first)"
        if state == "REDUCING":
            return None, None
        return {**holds, OPERATOR_HOLD: "REDUCING"}, None
    # resume
    if state == "ACTIVE":
        return None, None
    if state == "HALTED":
        return None, "cannot resume: the account is HALTED; only reset reopens it"
    others = sorted(k for k in holds if k != OPERATOR_HOLD)
    if others or OPERATOR_HOLD not in holds:
        held = ", ".join(others) or "risk"
        return (
            None,
            f"cannot resume: REDUCING was set by {held}, not by an operator pause; use reset",
        )
    return {}, None
