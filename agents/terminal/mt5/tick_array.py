"""Ticks as the `MetaTrader5` module returns them from `copy_ticks_from` / `copy_ticks_range`:
a numpy structured array with the module's field names and dtypes."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Final, TypeAlias

import numpy as np
import numpy.typing as npt

from agents.terminal.mt5.structures import Tick

TICK_DTYPE: Final = np.dtype(
    [
        ("time", "<i8"),
        ("bid", "<f8"),
        ("ask", "<f8"),
        ("last", "<f8"),
        ("volume", "<u8"),
        ("time_msc", "<i8"),
        ("flags", "<u4"),
        ("volume_real", "<f8"),
    ]
)
"""The dtype of the real module's tick arrays (`ticks.dtype` on a 5.0.x terminal)."""

TickArray: TypeAlias = npt.NDArray[np.void]
TickRows: TypeAlias = TickArray | Sequence[Tick]
"""What a terminal hands back for ticks: the module's array, or `Tick` tuples (the real
adapter converts)."""


def tick_array(ticks: Iterable[Tick]) -> TickArray:
    """The module's structured array of `ticks` (oldest first)."""
    return np.array([tuple(t) for t in ticks], dtype=TICK_DTYPE)


def as_ticks(rows: TickRows | Iterable[Any]) -> tuple[Tick, ...]:
    """`Tick` named tuples from a tick array (fields read by name) or from Tick-shaped rows."""
    if isinstance(rows, np.ndarray):
        if rows.dtype.names is None:
            raise TypeError(f"not a tick array: dtype {rows.dtype}")
        picked = rows[list(Tick._fields)] if rows.dtype.names != Tick._fields else rows
        return tuple(Tick._make(values) for values in picked.tolist())
    return tuple(row if isinstance(row, Tick) else _tick(row) for row in rows)


def _tick(row: Any) -> Tick:
    return Tick(
        time=int(row["time"]),
        bid=float(row["bid"]),
        ask=float(row["ask"]),
        last=float(row["last"]),
        volume=int(row["volume"]),
        time_msc=int(row["time_msc"]),
        flags=int(row["flags"]),
        volume_real=float(row["volume_real"]),
    )
