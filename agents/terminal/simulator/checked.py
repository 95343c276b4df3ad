"""Opens the scripted trader asks to have checked first, and the orders that carry them out.

A request is what the trader meant: symbol, side, volume, price, SL, TP, under a
`client_order_id`; the agent asks `mtq.risk.check` with it and, when approved, sends the
order `order_for` builds at the market then, with the fate applied (a slipped fill is off by
`slip_pips` from the checked price, "volume" doubles the lots, "sl" moves the stop further).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Final

from agents.terminal.mt5 import constants as c
from agents.terminal.simulator.settings import StrategySpec, SymbolSpec
from agents.terminal.simulator.strategy import Fate

STALE_MS: Final = 5_000
"""A request older than this (simulated time) is not checked: a restarted world catching up
with the clock makes again the requests it made while the agent was away."""
FORGET_MS: Final = 120_000
"""A request never sent is forgotten after this long."""
DEVIATION_POINTS: Final = 20


@dataclass(frozen=True)
class TradeRequest:
    client_order_id: str
    symbol: str
    side: str
    volume: float
    price: float
    """The price checked (for a slipped fill: where the trader thought the market was)."""
    sl: float
    tp: float
    magic: int
    fate: Fate
    utc_msc: int

    @property
    def buy(self) -> bool:
        return self.side == "buy"

    def doc(self) -> dict[str, Any]:
        return asdict(self)


def stops(spec: SymbolSpec, price: float, buy: bool, sl_pips: float | None,
          tp_pips: float | None) -> tuple[float, float]:  # fmt: skip
    """SL and TP that many pips away from `price` on the losing and winning side (0: none)."""
    sign = 1 if buy else -1
    sl = round(price - sign * sl_pips * spec.pip, spec.digits) if sl_pips else 0.0
    tp = round(price + sign * tp_pips * spec.pip, spec.digits) if tp_pips else 0.0
    return sl, tp


def checked_price(spec: SymbolSpec, strategy: StrategySpec, fate: Fate, market: float,
                  buy: bool) -> float:  # fmt: skip
    """The price asked about: the market, or for a slip the market `slip_pips` better."""
    if fate != "slip":
        return market
    sign = 1 if buy else -1
    return round(market - sign * strategy.slip_pips * spec.pip, spec.digits)


def order_for(
    req: TradeRequest, spec: SymbolSpec, strategy: StrategySpec, bid: float, ask: float
) -> dict[str, Any]:
    """The `order_send` request that carries out an approved request at the market now."""
    volume = req.volume * 2 if req.fate == "volume" else req.volume
    sl = req.sl
    if req.fate == "sl" and sl:
        sign = 1 if req.buy else -1
        sl = round(sl - sign * strategy.divergent_sl_pips * spec.pip, spec.digits)
    return {
        "action": c.TRADE_ACTION_DEAL,
        "symbol": req.symbol,
        "volume": round(min(volume, spec.volume_max), 2),
        "type": c.ORDER_TYPE_BUY if req.buy else c.ORDER_TYPE_SELL,
        "price": ask if req.buy else bid,
        "sl": sl,
        "tp": req.tp,
        "deviation": DEVIATION_POINTS,
        "magic": req.magic,
        "comment": req.client_order_id,
    }
