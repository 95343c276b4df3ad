"""Stateless limits on a decoded fact's values: what the schema allows but no terminal sends.

`bus.codec` calls `check_fact` on every fact it decodes, so the engine, the audit and the
projector refuse the same facts with the same reason (one line naming the field); the engine
dead-letters them. Limits that need another time (running backwards against the last
snapshot, running ahead of the store time) are the domain's, judged by the engine.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, Final

from bus.schemas import (
    AccountSnapshot,
    AgentHeartbeat,
    AgentLifecycleChanged,
    Fact,
    OrderExecuted,
    OrderRejected,
    PositionClosed,
    PositionModified,
    PositionOpened,
    TickReceived,
)

EARLIEST: Final = datetime(2000, 1, 1, tzinfo=UTC)
LATEST: Final = datetime(2100, 1, 1, tzinfo=UTC)
"""A fact's time must be in [EARLIEST, LATEST): fixed bounds, so a replay years later
refuses exactly what the live run refused."""
MAX_LOTS: Final = 1_000_000.0
"""More lots than any broker lets one position or deal have."""


class InsaneFact(ValueError):
    """A fact whose value cannot be true; the message names the field."""


def check_fact(fact: Fact) -> None:
    """Raise `InsaneFact` naming the first field out of its limits."""
    match fact:
        case TickReceived():
            _non_negative(fact, "bid", "ask", "last", "volume")
            _time_msc(fact, "time_msc")
        case PositionOpened() | PositionModified():
            _position(fact)
        case PositionClosed():
            _position(fact)
            _finite(fact, "close_price", "commission", "fee")
            _non_negative(fact, "close_price")
            _time_msc(fact, "close_time_msc")
        case AccountSnapshot() if _plain_snapshot(fact):
            pass
        case AccountSnapshot():
            # A negative equity is the domain's to judge (an account blown past zero).
            _finite(fact, "equity", "reset_equity", "margin", "margin_free", "margin_level",
                    "profit")  # fmt: skip
            _non_negative(fact, "balance", "reset_balance")
            _time(fact, "time", "reset_at")
        case AgentHeartbeat():
            _finite(fact, "terminal_latency_ms")
            for symbol, age in fact.last_tick_age_s.items():
                if not math.isfinite(age):
                    raise InsaneFact(f"last_tick_age_s[{symbol!r}] {age} is not a finite number")
            _time(fact, "time")
        case OrderExecuted():
            _finite(fact, "price")
            _lots(fact, allow_zero=True)
            _time(fact, "time")
        case OrderRejected() | AgentLifecycleChanged():
            _time(fact, "time")


def _plain_snapshot(fact: AccountSnapshot) -> bool:
    """The common snapshot, sane at a glance: no reset fields, every number finite (their sum
    is), a non-negative balance, an aware time in range. Anything else takes the checks that
    name the field."""
    time = fact.time
    return (
        fact.reset_at is None
        and fact.reset_balance is None
        and fact.reset_equity is None
        and fact.balance >= 0
        and math.isfinite(
            fact.balance + fact.equity + fact.margin + fact.margin_free + fact.margin_level
            + fact.profit
        )
        and time.tzinfo is not None
        and EARLIEST <= time < LATEST
    )  # fmt: skip


def _position(fact: PositionOpened | PositionModified | PositionClosed) -> None:
    _finite(fact, "profit", "swap")
    _non_negative(fact, "price_open", "price_current", "sl", "tp")
    _lots(fact, allow_zero=False)
    _time_msc(fact, "time_msc")


def _finite(fact: Fact, *names: str) -> None:
    for name in names:
        value = getattr(fact, name)
        if value is not None and not math.isfinite(value):
            raise InsaneFact(f"{name} {value} is not a finite number")


def _non_negative(fact: Fact, *names: str) -> None:
    _finite(fact, *names)
    for name in names:
        value = getattr(fact, name)
        if value is not None and value < 0:
            raise InsaneFact(f"{name} {value} is negative")


def _lots(fact: PositionOpened | PositionModified | PositionClosed | OrderExecuted, *,
          allow_zero: bool) -> None:  # fmt: skip
    volume = fact.volume
    low_ok = volume >= 0 if allow_zero else volume > 0
    if not (math.isfinite(volume) and low_ok and volume <= MAX_LOTS):
        least = "0" if allow_zero else "more than 0"
        raise InsaneFact(f"volume {volume} lots is out of range: {least} to {MAX_LOTS:g}")


def _time_msc(fact: Fact, name: str) -> None:
    value: int = getattr(fact, name)
    _in_range(name, datetime.fromtimestamp(min(value, 2**42) / 1000, UTC), f"{value} ")


def _time(fact: Fact, *names: str) -> None:
    for name in names:
        value: datetime | None = getattr(fact, name)
        if value is None:
            continue
        if value.tzinfo is None:
            raise InsaneFact(f"{name} {value.isoformat()} has no timezone")
        _in_range(name, value, "")


def _in_range(name: str, value: datetime, raw: str) -> None:
    if not EARLIEST <= value < LATEST:
        raise InsaneFact(
            f"{name} {raw}({value.isoformat()}) is outside {EARLIEST.year} to {LATEST.year}"
        )


def non_finite_field(data: bytes) -> str | None:
    """The first field holding NaN or ±Infinity in JSON that allows them (as many JSON
    libraries write), for a reason naming it; None when there is none or it is no JSON."""
    found: list[str] = []

    def constant(token: str) -> float:
        found.append(token)
        return math.nan

    try:
        document = json.loads(data, parse_constant=constant)
    except ValueError:
        return None
    if not found:
        return None
    for path, value in _leaves(document, "$"):
        if isinstance(value, float) and not math.isfinite(value):
            return path
    return None


def _leaves(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _leaves(item, f"{path}[{index}]")
    else:
        yield path, value
