"""Seeded random-walk quotes for one symbol."""

from __future__ import annotations

import random
from collections import deque
from typing import Any

from agents.terminal.mt5.constants import TICK_FLAG_ASK, TICK_FLAG_BID
from agents.terminal.mt5.structures import Tick
from agents.terminal.simulator.settings import SymbolSpec

TICKS_KEPT_PER_SYMBOL = 20_000
SNAPSHOT_TICKS = 1_000


class SymbolFeed:
    """Quotes for one symbol: a multiplicative random walk on the bid, ask = bid + spread."""

    def __init__(self, spec: SymbolSpec, seed: int) -> None:
        self.spec = spec
        self._rng = random.Random(f"{seed}:feed:{spec.name}")
        self._mid = spec.start_price
        self.ticks: deque[Tick] = deque(maxlen=TICKS_KEPT_PER_SYMBOL)
        self.tick: Tick | None = None

    def __getstate__(self) -> dict[str, Any]:
        """Pickled with only the newest ticks (a snapshot stays small)."""
        state = dict(self.__dict__)
        state["ticks"] = deque(list(self.ticks)[-SNAPSHOT_TICKS:], maxlen=self.ticks.maxlen)
        return state

    @property
    def bid(self) -> float:
        assert self.tick is not None
        return self.tick.bid

    @property
    def ask(self) -> float:
        assert self.tick is not None
        return self.tick.ask

    def step(self, time_msc: int) -> Tick:
        """Move the price one step and emit a tick stamped `time_msc`."""
        if self.tick is not None:
            self._mid *= 1.0 + self._rng.gauss(0.0, self.spec.volatility)
        return self._emit(self._mid, time_msc)

    def set_bid(self, bid: float, time_msc: int) -> Tick:
        """Jump the price to `bid` and emit a tick at once (tests and scripted scenarios)."""
        if bid <= 0:
            raise ValueError(f"bid must be positive, got {bid}")
        self._mid = bid
        return self._emit(bid, time_msc)

    def _emit(self, mid: float, time_msc: int) -> Tick:
        spec = self.spec
        bid = round(mid, spec.digits)
        ask = round(bid + spec.spread_points * spec.point, spec.digits)
        tick = Tick(
            time=time_msc // 1000,
            bid=bid,
            ask=ask,
            last=0.0,
            volume=0,
            time_msc=time_msc,
            flags=TICK_FLAG_BID | TICK_FLAG_ASK,
            volume_real=0.0,
        )
        self.tick = tick
        self.ticks.append(tick)
        return tick

    def ticks_from(self, from_msc: int, count: int) -> tuple[Tick, ...]:
        """Up to `count` kept ticks stamped at or after `from_msc`, oldest first.

        Scans from the newest tick back, so asking for the last few is cheap however many
        are kept.
        """
        if count <= 0:
            return ()
        newer: list[Tick] = []
        for tick in reversed(self.ticks):
            if tick.time_msc < from_msc:
                break
            newer.append(tick)
        newer.reverse()
        return tuple(newer[:count])
