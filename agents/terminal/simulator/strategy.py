"""A scripted trader that opens and closes positions at random, from a seed."""

from __future__ import annotations

import random
from dataclasses import dataclass

from agents.terminal.mt5 import constants as c
from agents.terminal.simulator.settings import StrategySpec


@dataclass(frozen=True)
class OpenIntent:
    symbol: str
    type: int
    volume: float
    sl_pips: float | None
    tp_pips: float | None
    magic: int
    reason: int


@dataclass(frozen=True)
class CloseIntent:
    ticket: int


class RandomTrader:
    """Each step: maybe open one position on a random symbol, maybe close one of its own.

    With `magic` 0 it behaves like a person (reasons client/mobile/web); otherwise like an
    expert advisor with that magic number.
    """

    def __init__(self, spec: StrategySpec, seed: int) -> None:
        self.spec = spec
        self._rng = random.Random(f"{seed}:strategy")

    def decide(self, symbols: list[str], own_tickets: list[int]) -> list[OpenIntent | CloseIntent]:
        spec = self.spec
        if spec.kind != "random":
            return []
        rng = self._rng
        intents: list[OpenIntent | CloseIntent] = []
        if own_tickets and rng.random() < spec.close_probability:
            intents.append(CloseIntent(rng.choice(own_tickets)))
        if (
            symbols
            and len(own_tickets) < spec.max_positions
            and rng.random() < spec.open_probability
        ):
            if spec.magic:
                reason = c.POSITION_REASON_EXPERT
            else:
                reason = rng.choice(
                    (c.POSITION_REASON_CLIENT, c.POSITION_REASON_MOBILE, c.POSITION_REASON_WEB)
                )
            intents.append(
                OpenIntent(
                    symbol=rng.choice(symbols),
                    type=rng.choice((c.POSITION_TYPE_BUY, c.POSITION_TYPE_SELL)),
                    volume=rng.choice(spec.volume_choices),
                    sl_pips=spec.sl_pips,
                    tp_pips=spec.tp_pips,
                    magic=spec.magic,
                    reason=reason,
                )
            )
        return intents
