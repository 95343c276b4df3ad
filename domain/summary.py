"""`AccountRisk.summary()`: the account's risk state as plain data for `mtq risk show`."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from domain.account import AccountRisk


def plain(value: Any) -> Any:
    """JSON-ready copy: Decimals as strings, times as ISO strings, tuples as lists."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def summarize(account: AccountRisk) -> dict[str, Any]:
    """Limits in force, day and anchors, floors, current values, state, positions, breaches."""
    a = account
    rules = a.rules
    limits = {
        rule: {"reference": th.reference, "floor": th.floor, "warn_at": th.warn_at,
               **a._rule_state[rule]}
        for rule, th in a.thresholds.items()
    }  # fmt: skip
    if "max" in limits:
        limits["max"]["kind"] = rules.max_loss.kind
        limits["max"]["high"] = a._high
    result: dict[str, Any] = plain(
        {
            "account_id": a.account_id,
            "version": a.version,
            "trading_state": a._state,
            "state_reason": a._state_reason,
            "state_actor": a._state_actor,
            "state_since": a._state_since,
            "holds": a._holds,
            "initial_capital": a._initial,
            "day": {
                "day": a._day,
                "start": a._day_start,
                "end": a._day_end,
                "anchor": a._anchor,
                "anchor_balance": a._anchor_balance,
                "anchor_equity": a._anchor_equity,
                "anchor_source": a._anchor_source,
            },
            "account": {
                "balance": a._balance,
                "equity": a._equity,
                "margin": a._margin,
                "margin_free": a._margin_free,
                "currency": a._currency,
                "as_of": a._observed_at,
            },
            "limits": limits,
            "positions": [a._positions[k] for k in sorted(a._positions, key=int)],
            "pending_liquidation": a._pending,
            "outstanding_commands": a._commands,
            "breaches": a._breaches,
            "rules": rules.to_dict(),
        }
    )
    if rules.objectives.enabled:
        progress = a.objective_progress
        result["objectives"] = plain(
            {
                "trading_days": len(progress["days"]),
                "passed": progress["passed"],
                "failed": progress["failed"],
                "progress": {
                    name: {"value": value, "target": target, "met": met}
                    for name, (value, target, met) in a._objective_numbers().items()
                },
            }
        )
    return result
