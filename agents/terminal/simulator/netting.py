"""A netting account (ACCOUNT_MARGIN_MODE_RETAIL_NETTING): at most one position per symbol.

A deal on a symbol with a position either adds to it (same side, DEAL_ENTRY_IN, the open
price becomes the volume-weighted average), reduces or closes it (opposite side, up to its
volume, DEAL_ENTRY_OUT) or reverses it (opposite side and more volume, one
DEAL_ENTRY_INOUT deal: the old volume is closed at the deal price, the rest is the position
on the other side). A reversal keeps the position's identifier and gives it the reversing
order's ticket, as MT5 does (POSITION_IDENTIFIER "does not change" on a reversal,
POSITION_TICKET is replaced).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from agents.terminal.mt5 import constants as c
from agents.terminal.mt5.structures import TradeDeal
from agents.terminal.simulator.book import (
    _EPS,
    Book,
    OpenPosition,
    position_margin,
    position_profit,
)


@dataclass(frozen=True, slots=True)
class NetResult:
    """What one deal did to the symbol's position."""

    entry: int
    """DEAL_ENTRY_IN (opened or added), DEAL_ENTRY_OUT (reduced or closed), DEAL_ENTRY_INOUT
    (reversed)."""
    deal: TradeDeal
    position: OpenPosition | None
    """The position after the deal (None: closed)."""
    before: OpenPosition | None
    """The position before the deal (None: there was none)."""


class NettingBook(Book):
    """Balance, one position per symbol, and deal history."""

    def position_on(self, symbol: str) -> OpenPosition | None:
        return next((p for p in self.positions.values() if p.symbol == symbol), None)

    def margin_after(self, symbol: str, type_: int, volume: float, price: float) -> float:
        """The account's margin once a deal of `volume` lots is netted into `symbol`."""
        pos = self.position_on(symbol)
        if pos is None:
            return self.margin_after_open(symbol, volume, price)
        signed = pos.volume if pos.type == type_ else -pos.volume
        net = abs(signed + volume)
        spec = self.specs[symbol]
        old = position_margin(spec, pos.volume, pos.price_open, self.leverage)
        return self.margin - old + position_margin(spec, net, price, self.leverage)

    def net(
        self,
        symbol: str,
        type_: int,
        *,
        volume: float,
        price: float,
        sl: float,
        tp: float,
        magic: int,
        reason: int,
        comment: str,
        time_msc: int,
        deal_reason: int,
    ) -> NetResult:
        """Net a market deal of `type_` (ORDER_TYPE_BUY/SELL) into the symbol's position."""
        pos = self.position_on(symbol)
        if pos is None:
            opened, deal = self.open(symbol, type_, volume=volume, price=price, sl=sl, tp=tp,
                                     magic=magic, reason=reason, comment=comment,
                                     time_msc=time_msc)  # fmt: skip
            return NetResult(c.DEAL_ENTRY_IN, deal, opened, None)
        if pos.type == type_:
            return self._add(pos, volume, price, sl, tp, magic, comment, time_msc, deal_reason)
        if volume <= pos.volume + _EPS:
            lots = min(volume, pos.volume)
            deal, _ = self.close(pos.ticket, lots, price, deal_reason=deal_reason,
                                 time_msc=time_msc, magic=magic, comment=comment)  # fmt: skip
            return NetResult(c.DEAL_ENTRY_OUT, deal, self.positions.get(pos.ticket), pos)
        return self._reverse(pos, volume, price, sl, tp, magic, comment, time_msc, deal_reason)

    def _add(  # noqa: PLR0917 - one deal's fields
        self,
        pos: OpenPosition,
        volume: float,
        price: float,
        sl: float,
        tp: float,
        magic: int,
        comment: str,
        time_msc: int,
        deal_reason: int,
    ) -> NetResult:
        spec = self.specs[pos.symbol]
        total = round(pos.volume + volume, 8)
        average = round((pos.price_open * pos.volume + price * volume) / total, spec.digits)
        commission = self._commission(pos.symbol, volume)
        self.balance = round(self.balance + commission, 2)
        deal = self._deal(order=self._take_order(), time_msc=time_msc, type_=pos.type,
                          entry=c.DEAL_ENTRY_IN, magic=magic, position_id=pos.identifier,
                          reason=deal_reason,
                          volume=volume, price=price, profit=0.0, symbol=pos.symbol,
                          comment=comment, commission=commission)  # fmt: skip
        after = replace(
            pos,
            volume=total,
            price_open=average,
            sl=sl or pos.sl,
            tp=tp or pos.tp,
            time_update_msc=time_msc,
            profit=position_profit(spec, pos.type, total, average, pos.price_current),
        )
        self.positions[pos.ticket] = after
        return NetResult(c.DEAL_ENTRY_IN, deal, after, pos)

    def _reverse(  # noqa: PLR0917 - one deal's fields
        self,
        pos: OpenPosition,
        volume: float,
        price: float,
        sl: float,
        tp: float,
        magic: int,
        comment: str,
        time_msc: int,
        deal_reason: int,
    ) -> NetResult:
        spec = self.specs[pos.symbol]
        profit = position_profit(spec, pos.type, pos.volume, pos.price_open, price)
        commission = self._commission(pos.symbol, volume)
        self.balance = round(self.balance + profit + pos.swap + commission, 2)
        order = self._take_order()
        side = c.POSITION_TYPE_SELL if pos.type == c.POSITION_TYPE_BUY else c.POSITION_TYPE_BUY
        deal = self._deal(order=order, time_msc=time_msc, type_=side, entry=c.DEAL_ENTRY_INOUT,
                          magic=magic, position_id=pos.identifier,
                          reason=deal_reason,
                          volume=volume, price=price, profit=profit, symbol=pos.symbol,
                          comment=comment, commission=commission, swap=pos.swap)  # fmt: skip
        del self.positions[pos.ticket]
        after = replace(
            pos,
            ticket=order,
            type=side,
            volume=round(volume - pos.volume, 8),
            price_open=price,
            price_current=price,
            profit=0.0,
            swap=0.0,
            sl=sl,
            tp=tp,
            time_update_msc=time_msc,
        )
        self.positions[order] = after
        return NetResult(c.DEAL_ENTRY_INOUT, deal, after, pos)
