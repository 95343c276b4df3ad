"""The simulated account: balance, open positions, deals, and the money math."""

from __future__ import annotations

from dataclasses import dataclass, replace

from agents.terminal.mt5 import constants as c
from agents.terminal.simulator.settings import SymbolSpec
from agents.terminal.mt5.structures import TradeDeal, TradePosition

_EPS = 1e-9


def position_profit(
    spec: SymbolSpec, type_: int, volume: float, price_open: float, price: float
) -> float:
    """Profit in account currency: price move in ticks x tick value x lots, signed by side."""
    move = price - price_open if type_ == c.POSITION_TYPE_BUY else price_open - price
    return round(move / spec.tick_size * spec.tick_value * volume, 2)


def position_margin(spec: SymbolSpec, volume: float, price: float, leverage: int) -> float:
    """Margin in account currency: lots x contract x price / leverage, converted from the quote."""
    return volume * spec.contract_size * price * spec.quote_to_account / leverage


@dataclass(slots=True)
class OpenPosition:
    """A position as the book keeps it (mutable; callers get TradePosition copies)."""

    ticket: int
    symbol: str
    type: int
    volume: float
    price_open: float
    sl: float
    tp: float
    magic: int
    reason: int
    comment: str
    time_msc: int
    time_update_msc: int
    price_current: float
    profit: float

    def as_mt5(self) -> TradePosition:
        return TradePosition(
            ticket=self.ticket,
            time=self.time_msc // 1000,
            time_msc=self.time_msc,
            time_update=self.time_update_msc // 1000,
            time_update_msc=self.time_update_msc,
            type=self.type,
            magic=self.magic,
            identifier=self.ticket,
            reason=self.reason,
            volume=self.volume,
            price_open=self.price_open,
            sl=self.sl,
            tp=self.tp,
            price_current=self.price_current,
            swap=0.0,
            profit=self.profit,
            symbol=self.symbol,
            comment=self.comment,
            external_id="",
        )


class Book:
    """Balance, positions (hedging account) and deal history, in account currency."""

    def __init__(
        self, specs: dict[str, SymbolSpec], balance: float, leverage: int, start_msc: int
    ) -> None:
        self.specs = specs
        self.leverage = leverage
        self.balance = balance
        self.positions: dict[int, OpenPosition] = {}
        self.deals: list[TradeDeal] = []
        self._next_order = 1_000_001
        self._next_deal = 2_000_001
        self._deal(
            order=0,
            time_msc=start_msc,
            type_=c.DEAL_TYPE_BALANCE,
            entry=c.DEAL_ENTRY_IN,
            magic=0,
            position_id=0,
            reason=c.DEAL_REASON_CLIENT,
            volume=0.0,
            price=0.0,
            profit=balance,
            symbol="",
            comment="initial deposit",
        )

    @property
    def profit(self) -> float:
        return round(sum(p.profit for p in self.positions.values()), 2)

    @property
    def margin(self) -> float:
        return round(
            sum(
                position_margin(self.specs[p.symbol], p.volume, p.price_open, self.leverage)
                for p in self.positions.values()
            ),
            2,
        )

    @property
    def equity(self) -> float:
        return round(self.balance + self.profit, 2)

    def margin_after_open(self, symbol: str, volume: float, price: float) -> float:
        return self.margin + position_margin(self.specs[symbol], volume, price, self.leverage)

    def mark(self, symbol: str, bid: float, ask: float) -> None:
        """Revalue the positions on `symbol`: buys at the bid, sells at the ask."""
        spec = self.specs[symbol]
        for pos in self.positions.values():
            if pos.symbol != symbol:
                continue
            price = bid if pos.type == c.POSITION_TYPE_BUY else ask
            pos.price_current = price
            pos.profit = position_profit(spec, pos.type, pos.volume, pos.price_open, price)

    def open(
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
    ) -> tuple[OpenPosition, TradeDeal]:
        order = self._take_order()
        pos = OpenPosition(
            ticket=order,
            symbol=symbol,
            type=type_,
            volume=volume,
            price_open=price,
            sl=sl,
            tp=tp,
            magic=magic,
            reason=reason,
            comment=comment,
            time_msc=time_msc,
            time_update_msc=time_msc,
            price_current=price,
            profit=0.0,
        )
        self.positions[order] = pos
        deal = self._deal(
            order=order,
            time_msc=time_msc,
            type_=type_,
            entry=c.DEAL_ENTRY_IN,
            magic=magic,
            position_id=order,
            reason=reason,
            volume=volume,
            price=price,
            profit=0.0,
            symbol=symbol,
            comment=comment,
        )
        return pos, deal

    def close(
        self,
        ticket: int,
        volume: float,
        price: float,
        *,
        deal_reason: int,
        time_msc: int,
        magic: int | None = None,
        comment: str = "",
    ) -> tuple[TradeDeal, float]:
        """Close `volume` lots of position `ticket` at `price`; return the deal and lots left."""
        pos = self.positions[ticket]
        spec = self.specs[pos.symbol]
        profit = position_profit(spec, pos.type, volume, pos.price_open, price)
        self.balance = round(self.balance + profit, 2)
        closing_type = c.DEAL_TYPE_SELL if pos.type == c.POSITION_TYPE_BUY else c.DEAL_TYPE_BUY
        deal = self._deal(
            order=self._take_order(),
            time_msc=time_msc,
            type_=closing_type,
            entry=c.DEAL_ENTRY_OUT,
            magic=pos.magic if magic is None else magic,
            position_id=ticket,
            reason=deal_reason,
            volume=volume,
            price=price,
            profit=profit,
            symbol=pos.symbol,
            comment=comment or _close_comment(deal_reason, price, spec.digits),
        )
        remaining = round(pos.volume - volume, 8)
        if remaining <= _EPS:
            del self.positions[ticket]
            return deal, 0.0
        left_profit = position_profit(spec, pos.type, remaining, pos.price_open, pos.price_current)
        self.positions[ticket] = replace(
            pos, volume=remaining, profit=left_profit, time_update_msc=time_msc
        )
        return deal, remaining

    def modify(self, ticket: int, sl: float, tp: float, time_msc: int) -> OpenPosition:
        pos = replace(self.positions[ticket], sl=sl, tp=tp, time_update_msc=time_msc)
        self.positions[ticket] = pos
        return pos

    def _take_order(self) -> int:
        self._next_order += 1
        return self._next_order - 1

    def _deal(
        self,
        *,
        order: int,
        time_msc: int,
        type_: int,
        entry: int,
        magic: int,
        position_id: int,
        reason: int,
        volume: float,
        price: float,
        profit: float,
        symbol: str,
        comment: str,
    ) -> TradeDeal:
        deal = TradeDeal(
            ticket=self._next_deal,
            order=order,
            time=time_msc // 1000,
            time_msc=time_msc,
            type=type_,
            entry=entry,
            magic=magic,
            position_id=position_id,
            reason=reason,
            volume=volume,
            price=price,
            commission=0.0,
            swap=0.0,
            profit=profit,
            fee=0.0,
            symbol=symbol,
            comment=comment,
            external_id="",
        )
        self._next_deal += 1
        self.deals.append(deal)
        return deal


def _close_comment(deal_reason: int, price: float, digits: int) -> str:
    tag = {c.DEAL_REASON_SL: "sl", c.DEAL_REASON_TP: "tp", c.DEAL_REASON_SO: "so"}.get(deal_reason)
    return f"[{tag} {price:.{digits}f}]" if tag else ""
