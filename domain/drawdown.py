"""Daily and max loss floors, warning levels and breach tests, as plain functions."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Final

from domain.money import CENT, percent_of
from domain.rules import BreachWhen, DailyLossRule, MaxLossRule

EQUITY_QUANTUM_OF_CAPITAL: Final = Decimal("0.005")
"""Balance is recorded whenever it changes; equity alone when it moved by 0.5% of initial
capital since last recorded. Pre-trade sizes risk on the recorded equity."""


@dataclass(frozen=True, slots=True)
class Threshold:
    """Where a rule warns and breaches: equity at or below `warn_at` warns, beyond `floor`
    breaches; `reference - floor` is the loss budget."""

    reference: Decimal
    floor: Decimal
    warn_at: Decimal

    @property
    def budget(self) -> Decimal:
        return self.reference - self.floor


def _threshold(reference: Decimal, floor: Decimal, fraction: Decimal) -> Threshold:
    warn = reference - ((reference - floor) * fraction).quantize(CENT, rounding=ROUND_HALF_EVEN)
    return Threshold(reference, floor, warn)


def daily_threshold(
    rule: DailyLossRule, initial: Decimal, anchor: Decimal, fraction: Decimal
) -> Threshold:
    """Floor = anchor - limit% of initial capital (basis initial) or of the anchor."""
    base = initial if rule.basis == "initial" else anchor
    return _threshold(anchor, anchor - percent_of(rule.limit_percent, base), fraction)


def max_threshold(
    rule: MaxLossRule, initial: Decimal, high: Decimal, fraction: Decimal
) -> Threshold:
    """Static: initial - limit% of initial. Trailing: high - limit% of initial or of the high,
    capped at initial capital plus `lock_offset` with `lock_at_initial`."""
    if rule.kind == "static":
        return _threshold(initial, initial - percent_of(rule.limit_percent, initial), fraction)
    base = initial if rule.basis == "initial" else high
    floor = high - percent_of(rule.limit_percent, base)
    lock = initial + rule.lock_offset
    if rule.lock_at_initial and floor > lock:
        floor = lock
    return _threshold(high, floor, fraction)


def is_beyond(equity: Decimal, floor: Decimal, breach_when: BreachWhen) -> bool:
    """Whether `equity` breaks `floor`: below it, or at or below it."""
    return equity < floor if breach_when == "below" else equity <= floor


def equity_quantum(initial: Decimal) -> Decimal:
    """The equity move worth recording (see EQUITY_QUANTUM_OF_CAPITAL)."""
    return max(CENT, (initial * EQUITY_QUANTUM_OF_CAPITAL).quantize(CENT))
