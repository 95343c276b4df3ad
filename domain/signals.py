"""Signals of strategies (issue 17), pure: their ids, what one asks of an account, its sizing.

Sizing takes the stricter reading everywhere: the volume is rounded DOWN to the symbol's
volume step, so a signal never risks more than it asked; below the symbol's minimum volume
it is refused, never rounded up.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal
from typing import Literal

from domain.inputs import Side

OrderType = Literal["market", "limit", "stop"]
Approval = Literal["auto", "manual"]
Sizing = Literal["fixed", "risk_percent"]
AUTO_ACTOR = "auto"
"""The actor of an approval by the strategy's `approval: auto` policy."""


def signal_command_id(signal_id: str, account_id: str) -> str:
    """The PlaceOrder command id of a signal on an account: 32 hex of sha256."""
    return hashlib.sha256(f"{signal_id}|{account_id}".encode()).hexdigest()[:32]


def approval_id(signal_id: str, account_id: str) -> str:
    return f"{signal_id}:{account_id}"


@dataclass(frozen=True, slots=True)
class VolumeSpec:
    """The symbol's volume limits (MT5's volume_min, volume_step, volume_max)."""

    volume_min: Decimal = Decimal("0.01")
    volume_step: Decimal = Decimal("0.01")
    volume_max: Decimal = Decimal(100)


@dataclass(frozen=True, slots=True)
class Signal:
    """What a signal asks of one account, as received (sizing not yet applied).

    Exactly one of `volume` (fixed lots) and `risk_percent` is set. `reference_price` is the
    price sizing and pre-trade read: the order's price, or the last tick's ask for a buy
    (bid for a sell) of a market order; None when there was no tick.
    """

    signal_id: str
    strategy: str
    symbol: str
    side: Side
    order_type: OrderType
    price: Decimal | None
    volume: Decimal | None
    risk_percent: Decimal | None
    sl: Decimal | None
    tp: Decimal | None
    comment: str
    approval: Approval
    actor: str
    expires_after_seconds: float
    reference_price: Decimal | None
    volumes: VolumeSpec


@dataclass(frozen=True, slots=True)
class Sized:
    volume: Decimal
    sizing: Sizing
    basis: dict[str, str]


@dataclass(frozen=True, slots=True)
class Refused:
    reason: str


def floor_to_step(value: Decimal, step: Decimal) -> Decimal:
    """`value` rounded down to a whole number of `step`s."""
    steps = (value / step).to_integral_value(rounding=ROUND_FLOOR)
    return (steps * step).quantize(step)  # written to the step: 0.10, not 0.1 nor 1E-1


def stop_errors(
    side: Side, reference: Decimal | None, sl: Decimal | None, tp: Decimal | None
) -> str:
    """Why the stops are on the wrong side of the price ('' when they are not)."""
    if reference is None:
        return ""
    below, above = (sl, tp) if side == "buy" else (tp, sl)
    if below is not None and below >= reference:
        return f"{'sl' if side == 'buy' else 'tp'} {below} must be below the price {reference}"
    if above is not None and above <= reference:
        return f"{'tp' if side == 'buy' else 'sl'} {above} must be above the price {reference}"
    return ""


def size_fixed(volume: Decimal, volumes: VolumeSpec) -> Sized | Refused:
    """Fixed lots, rounded down to the step and capped at the maximum."""
    sized = min(floor_to_step(volume, volumes.volume_step), _cap(volumes))
    if sized < volumes.volume_min or sized <= 0:
        return Refused(f"volume {volume} is below volume_min {volumes.volume_min}")
    return Sized(sized, "fixed", {})


def size_risk_percent(  # noqa: PLR0917 - the inputs of one formula
    equity: Decimal | None,
    risk_percent: Decimal,
    reference_price: Decimal | None,
    sl: Decimal | None,
    tick_value: Decimal,
    tick_size: Decimal,
    volumes: VolumeSpec,
) -> Sized | Refused:
    """volume = floor_to_step(equity * pct / 100 / (sl_distance / tick_size * tick_value)).

    Capped at volume_max; refused without an SL, a price, equity, or below volume_min.
    """
    if sl is None:
        return Refused("risk_percent sizing needs an sl")
    if reference_price is None:
        return Refused("risk_percent sizing needs a price: no tick of the symbol yet")
    if equity is None or equity <= 0:
        return Refused("risk_percent sizing needs the account's equity: no snapshot yet")
    distance = abs(reference_price - sl)
    if distance == 0:
        return Refused("risk_percent sizing needs an sl away from the price")
    loss_per_lot = distance / tick_size * tick_value
    raw = equity * risk_percent / 100 / loss_per_lot
    volume = min(floor_to_step(raw, volumes.volume_step), _cap(volumes))
    basis = {
        "equity": str(equity),
        "risk_percent": str(risk_percent),
        "sl_distance": str(distance),
        "tick_value": str(tick_value),
        "tick_size": str(tick_size),
        "volume_step": str(volumes.volume_step),
        "volume_min": str(volumes.volume_min),
        "volume_max": str(volumes.volume_max),
    }
    if volume < volumes.volume_min or volume <= 0:
        shown = raw.quantize(Decimal("0.0001"), rounding=ROUND_FLOOR)
        return Refused(
            f"risk_percent {risk_percent} of equity {equity} sizes {shown} lots,"
            f" below volume_min {volumes.volume_min}"
        )
    return Sized(volume, "risk_percent", basis)


def _cap(volumes: VolumeSpec) -> Decimal:
    return floor_to_step(volumes.volume_max, volumes.volume_step)


def expired(expires_at: str, now: datetime) -> bool:
    """Whether an approval due by `expires_at` (ISO) is late at `now`."""
    return now > datetime.fromisoformat(expires_at)
