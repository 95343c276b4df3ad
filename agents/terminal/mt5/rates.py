"""Bars as the `MetaTrader5` module returns them from `copy_rates_*`: a numpy structured
array (`RATES_DTYPE`), made here from ticks the way mtq's candles view makes its bars.

A bar covers `[start, start + timeframe)` of tick time (D1 from midnight); open and close
are its first and last bid, high and low the extremes, `spread` the narrowest ask - bid in
points, `tick_volume` the ticks, `real_volume` their real volume. W1 and MN1 are not made.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final, TypeAlias

import numpy as np
import numpy.typing as npt

from agents.terminal.mt5 import constants as c
from agents.terminal.mt5.structures import Tick

RATES_DTYPE: Final = np.dtype(
    [
        ("time", "<i8"),
        ("open", "<f8"),
        ("high", "<f8"),
        ("low", "<f8"),
        ("close", "<f8"),
        ("tick_volume", "<u8"),
        ("spread", "<i4"),
        ("real_volume", "<u8"),
    ]
)
"""The dtype of the real module's rate arrays."""
RatesArray: TypeAlias = npt.NDArray[np.void]

TIMEFRAME_SECONDS: Final[dict[int, int]] = {
    c.TIMEFRAME_M1: 60,
    c.TIMEFRAME_M2: 120,
    c.TIMEFRAME_M3: 180,
    c.TIMEFRAME_M4: 240,
    c.TIMEFRAME_M5: 300,
    c.TIMEFRAME_M6: 360,
    c.TIMEFRAME_M10: 600,
    c.TIMEFRAME_M12: 720,
    c.TIMEFRAME_M15: 900,
    c.TIMEFRAME_M20: 1200,
    c.TIMEFRAME_M30: 1800,
    c.TIMEFRAME_H1: 3600,
    c.TIMEFRAME_H2: 7200,
    c.TIMEFRAME_H3: 10800,
    c.TIMEFRAME_H4: 14400,
    c.TIMEFRAME_H6: 21600,
    c.TIMEFRAME_H8: 28800,
    c.TIMEFRAME_H12: 43200,
    c.TIMEFRAME_D1: 86400,
}


def rates_from_ticks(ticks: Iterable[Tick], seconds: int, point: float) -> RatesArray:
    """The bars of `ticks` (oldest first) on a timeframe of `seconds`, oldest first."""
    bars: list[list[float]] = []
    for t in ticks:
        start = t.time_msc // 1000 - (t.time_msc // 1000) % seconds
        spread = round((t.ask - t.bid) / point) if point > 0 else 0
        if bars and bars[-1][0] == start:
            bar = bars[-1]
            bar[2] = max(bar[2], t.bid)
            bar[3] = min(bar[3], t.bid)
            bar[4] = t.bid
            bar[5] += 1
            bar[6] = min(bar[6], spread)
            bar[7] += t.volume_real
        else:
            bars.append([start, t.bid, t.bid, t.bid, t.bid, 1, spread, t.volume_real])
    return np.array(
        [(int(b[0]), b[1], b[2], b[3], b[4], int(b[5]), int(b[6]), int(b[7])) for b in bars],
        dtype=RATES_DTYPE,
    )
