"""Pending orders (limit and stop): placed, triggered by the quote, or expired."""

from __future__ import annotations

from dataclasses import dataclass, replace

from agents.terminal.mt5 import constants as c
from agents.terminal.mt5.structures import TradeOrder

BUY_TYPES = frozenset({c.ORDER_TYPE_BUY_LIMIT, c.ORDER_TYPE_BUY_STOP})
PENDING_TYPES = frozenset(
    {c.ORDER_TYPE_BUY_LIMIT, c.ORDER_TYPE_SELL_LIMIT, c.ORDER_TYPE_BUY_STOP, c.ORDER_TYPE_SELL_STOP}
)


@dataclass(frozen=True, slots=True)
class PendingOrder:
    ticket: int
    symbol: str
    type: int
    volume: float
    price: float
    sl: float
    tp: float
    magic: int
    comment: str
    type_time: int
    expiration_s: int
    """Server time in seconds (ORDER_TIME_SPECIFIED), 0 for good-till-cancelled."""
    setup_msc: int
    state: int = c.ORDER_STATE_PLACED
    done_msc: int = 0
    position_id: int = 0

    @property
    def position_type(self) -> int:
        return c.POSITION_TYPE_BUY if self.type in BUY_TYPES else c.POSITION_TYPE_SELL

    def triggered(self, bid: float, ask: float) -> bool:
        """A buy triggers on the ask, a sell on the bid: limits at or better, stops beyond."""
        match self.type:
            case c.ORDER_TYPE_BUY_LIMIT:
                return ask <= self.price
            case c.ORDER_TYPE_BUY_STOP:
                return ask >= self.price
            case c.ORDER_TYPE_SELL_LIMIT:
                return bid >= self.price
            case _:
                return bid <= self.price

    def expired(self, now_msc: int) -> bool:
        return self.type_time == c.ORDER_TIME_SPECIFIED and now_msc >= self.expiration_s * 1000

    def done(self, state: int, now_msc: int, position_id: int = 0) -> PendingOrder:
        return replace(self, state=state, done_msc=now_msc, position_id=position_id)

    def as_mt5(self, price_current: float) -> TradeOrder:
        return TradeOrder(
            ticket=self.ticket,
            time_setup=self.setup_msc // 1000,
            time_setup_msc=self.setup_msc,
            time_done=self.done_msc // 1000,
            time_done_msc=self.done_msc,
            time_expiration=self.expiration_s,
            type=self.type,
            type_time=self.type_time,
            type_filling=c.ORDER_FILLING_RETURN,
            state=self.state,
            magic=self.magic,
            position_id=self.position_id,
            position_by_id=0,
            reason=c.ORDER_REASON_EXPERT,
            volume_initial=self.volume,
            volume_current=self.volume if self.state == c.ORDER_STATE_PLACED else 0.0,
            price_open=self.price,
            sl=self.sl,
            tp=self.tp,
            price_current=price_current,
            price_stoplimit=0.0,
            symbol=self.symbol,
            comment=self.comment,
            external_id="",
        )


def price_valid(type_: int, price: float, bid: float, ask: float) -> bool:
    """A limit below (buy) / above (sell) the market, a stop above (buy) / below (sell)."""
    match type_:
        case c.ORDER_TYPE_BUY_LIMIT:
            return price < ask
        case c.ORDER_TYPE_BUY_STOP:
            return price > ask
        case c.ORDER_TYPE_SELL_LIMIT:
            return price > bid
        case _:
            return price < bid
