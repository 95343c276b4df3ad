"""Money at cent precision and other exact decimal quantities."""

from __future__ import annotations

import math
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Final

from domain.errors import InvalidFact

CENT: Final = Decimal("0.01")
ZERO: Final = Decimal(0)
HUNDRED: Final = Decimal(100)


def quantity(value: float | int | str | Decimal) -> Decimal:
    """Exact decimal of `value` (floats through their shortest repr); InvalidFact if not finite."""
    if isinstance(value, bool):
        raise InvalidFact(f"not a number: {value!r}")
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise InvalidFact(f"not a number: {value!r}") from None
    if not number.is_finite():
        raise InvalidFact(f"not a finite number: {value!r}")
    return number


def money(value: float | int | str | Decimal) -> Decimal:
    """Round `value` to cents (half even); InvalidFact on NaN, infinity or non-numbers."""
    if type(value) is float and math.isfinite(value):  # every fact's money: the hot path
        return Decimal(repr(value)).quantize(CENT, rounding=ROUND_HALF_EVEN)
    return quantity(value).quantize(CENT, rounding=ROUND_HALF_EVEN)


def percent_of(percent: Decimal, amount: Decimal) -> Decimal:
    """`percent` % of `amount`, in cents."""
    return (amount * percent / HUNDRED).quantize(CENT, rounding=ROUND_HALF_EVEN)
