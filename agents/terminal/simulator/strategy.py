"""A scripted trader that opens and closes positions at random, from a seed.

With `risk_check` it trades like an integrated strategy: each open of its own (magic) is a
request the agent checks with `mtq.risk.check` before sending it, under a `client_order_id`
it also puts into the position comment (`sim-<8 hex>`: never `mtq-<8 hex>`, the comment of
the orders mtq itself sends for signals and closes). Each open draws a fate that the demo's
reconciliation shows: sent as checked, manual (no check), slipped, a different volume or SL,
or never sent.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from typing import Final, Literal

from agents.terminal.mt5 import constants as c
from agents.terminal.simulator.settings import StrategySpec

Fate = Literal["checked", "manual", "slip", "volume", "sl", "unfilled"]
FATES: Final[tuple[Fate, ...]] = ("checked", "manual", "slip", "volume", "sl", "unfilled")
_MANUAL: Final = (c.POSITION_REASON_CLIENT, c.POSITION_REASON_MOBILE, c.POSITION_REASON_WEB)


@dataclass(frozen=True)
class OpenIntent:
    symbol: str
    type: int
    volume: float
    sl_pips: float | None
    tp_pips: float | None
    magic: int
    reason: int
    fate: Fate = "checked"
    client_order_id: str = ""
    """Set when the open must be checked first (`risk_check` and not manual)."""


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
            intents.append(self._open(symbols))
        return intents

    def _open(self, symbols: list[str]) -> OpenIntent:
        spec, rng = self.spec, self._rng
        reason = c.POSITION_REASON_EXPERT if spec.magic else rng.choice(_MANUAL)
        intent = OpenIntent(
            symbol=rng.choice(symbols),
            type=rng.choice((c.POSITION_TYPE_BUY, c.POSITION_TYPE_SELL)),
            volume=rng.choice(spec.volume_choices),
            sl_pips=spec.sl_pips,
            tp_pips=spec.tp_pips,
            magic=spec.magic,
            reason=reason,
        )
        if not (spec.risk_check and spec.magic):
            return intent
        fate = rng.choices(FATES, weights=spec.fate_weights)[0]
        if fate == "manual":
            return replace(intent, fate=fate, magic=0, reason=rng.choice(_MANUAL))
        return replace(intent, fate=fate, client_order_id=f"sim-{rng.getrandbits(32):08x}")
