"""The simulated account: balance, open positions, deals, and the money math."""

from __future__ import annotations

from dataclasses import dataclass, replace

from agents.terminal.mt5 import constants as c
from agents.terminal.mt5.structures import TradeDeal, TradePosition
from agents.terminal.simulator.settings import SymbolSpec

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
    identifier: int = 0
    """Stays when a rollover re-opens the position under a new ticket (0: the ticket)."""
    swap: float = 0.0
    """Swap charged so far (account currency), paid out with the closing deals."""

    def __post_init__(self) -> None:
        if not self.identifier:
            self.identifier = self.ticket

    def as_mt5(self) -> TradePosition:
        return TradePosition(
            ticket=self.ticket,
            time=self.time_msc // 1000,
            time_msc=self.time_msc,
            time_update=self.time_update_msc // 1000,
            time_update_msc=self.time_update_msc,
            type=self.type,
            magic=self.magic,
            identifier=self.identifier,
            reason=self.reason,
            volume=self.volume,
            price_open=self.price_open,
            sl=self.sl,
            tp=self.tp,
            price_current=self.price_current,
            swap=round(self.swap, 2),
            profit=self.profit,
            symbol=self.symbol,
            comment=self.comment,
            external_id="",
        )


def swap_charge(spec: SymbolSpec, type_: int, volume: float, nights: int) -> float:
    """Swap for `nights` rollovers (SYMBOL_SWAP_MODE_POINTS): points x point value x lots."""
    points = spec.swap_long if type_ == c.POSITION_TYPE_BUY else spec.swap_short
    return round(points * spec.point / spec.tick_size * spec.tick_value * volume * nights, 2)


class Book:
    """Balance, positions (hedging account; `NettingBook` for netting) and deal history, in
    account currency.

    Commission is charged on every deal (entry and exit, `commission_per_lot`); swap accrues
    on the position at each rollover and is paid with its closing deal, so the realized P/L
    of a position is the sum of profit + commission + swap + fee over its deals.
    """

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
        """Floating P/L of the open positions, their swap included (ACCOUNT_PROFIT)."""
        return round(sum(p.profit + p.swap for p in self.positions.values()), 2)

    def position_by_identifier(self, identifier: int) -> OpenPosition | None:
        return next((p for p in self.positions.values() if p.identifier == identifier), None)

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

    def margin_after(self, symbol: str, type_: int, volume: float, price: float) -> float:
        """The account's margin once a deal of `volume` lots of `type_` is filled (hedging: a
        new position)."""
        return self.margin_after_open(symbol, volume, price)

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
        commission = self._commission(symbol, volume)
        self.balance = round(self.balance + commission, 2)
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
            commission=commission,
        )
        return pos, deal

    def _commission(self, symbol: str, volume: float) -> float:
        return -round(self.specs[symbol].commission_per_lot * volume, 2)

    def rollover(self, time_msc: int, day: int | None, *, reopen: bool) -> list[tuple[int, int]]:
        """Charge swap for the night after weekday `day` (0 Sunday .. 6 Saturday; triple on the
        symbol's `swap_rollover3days`, none after Saturday and Sunday; None: one night) on every
        position; with `reopen` give each a new ticket (same identifier).
        Returns (old ticket, new ticket) pairs."""
        moved: list[tuple[int, int]] = []
        for ticket, pos in list(self.positions.items()):
            spec = self.specs[pos.symbol]
            nights = 1 if day is None else _nights(day, spec.swap_rollover3days)
            charge = swap_charge(spec, pos.type, pos.volume, nights)
            pos.swap = round(pos.swap + charge, 2)
            pos.time_update_msc = time_msc
            if reopen:
                new = self._take_order()
                del self.positions[ticket]
                self.positions[new] = replace(pos, ticket=new)
                moved.append((ticket, new))
        return moved

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
        share = min(1.0, volume / pos.volume) if pos.volume > 0 else 1.0
        swap = round(pos.swap * share, 2)
        commission = self._commission(pos.symbol, volume)
        self.balance = round(self.balance + profit + swap + commission, 2)
        closing_type = c.DEAL_TYPE_SELL if pos.type == c.POSITION_TYPE_BUY else c.DEAL_TYPE_BUY
        deal = self._deal(
            order=self._take_order(),
            time_msc=time_msc,
            type_=closing_type,
            entry=c.DEAL_ENTRY_OUT,
            magic=pos.magic if magic is None else magic,
            position_id=pos.identifier,
            reason=deal_reason,
            volume=volume,
            price=price,
            profit=profit,
            symbol=pos.symbol,
            comment=comment or _close_comment(deal_reason, price, spec.digits),
            commission=commission,
            swap=swap,
        )
        remaining = round(pos.volume - volume, 8)
        if remaining <= _EPS:
            del self.positions[ticket]
            return deal, 0.0
        left_profit = position_profit(spec, pos.type, remaining, pos.price_open, pos.price_current)
        self.positions[ticket] = replace(
            pos,
            volume=remaining,
            profit=left_profit,
            swap=round(pos.swap - swap, 2),
            time_update_msc=time_msc,
        )
        return deal, remaining

    def modify(self, ticket: int, sl: float, tp: float, time_msc: int) -> OpenPosition:
        pos = replace(self.positions[ticket], sl=sl, tp=tp, time_update_msc=time_msc)
        self.positions[ticket] = pos
        return pos

    def fill_as(self, order: int) -> None:
        """The next deal carries this order ticket (a pending order being filled)."""
        self.__dict__["_fill_order"] = order

    def take_order(self) -> int:
        """A new order ticket (a pending order's)."""
        return self._take_order()

    def _take_order(self) -> int:
        preset: int | None = self.__dict__.pop("_fill_order", None)
        if preset is not None:
            return preset
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
        commission: float = 0.0,
        swap: float = 0.0,
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
            commission=commission,
            swap=swap,
            profit=profit,
            fee=0.0,
            symbol=symbol,
            comment=comment,
            external_id="",
        )
        self._next_deal += 1
        self.deals.append(deal)
        return deal


def _nights(day: int, triple_day: int) -> int:
    if day in (0, 6):
        return 0
    return 3 if day == triple_day else 1


def _close_comment(deal_reason: int, price: float, digits: int) -> str:
    tag = {c.DEAL_REASON_SL: "sl", c.DEAL_REASON_TP: "tp", c.DEAL_REASON_SO: "so"}.get(deal_reason)
    return f"[{tag} {price:.{digits}f}]" if tag else ""
