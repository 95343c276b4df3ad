"""The rest of the `MetaTrader5` module's functions, for using the simulator as a drop-in.

The agent does not need most of these; scripts written against `MetaTrader5` do. Pending
orders are in `orders_get` until filled or expired (then in `history_orders_get`); there is no
market depth: `market_book_*` fail with RES_E_UNSUPPORTED. Its bars (`copy_rates_*`) are made
from the ticks it keeps.
"""

from __future__ import annotations

import fnmatch
import threading
from datetime import datetime
from typing import Any

from agents.terminal.mt5 import constants as c
from agents.terminal.mt5.rates import TIMEFRAME_SECONDS, RatesArray, rates_from_ticks
from agents.terminal.mt5.structures import (
    OrderCheckResult,
    TradeDeal,
    TradeOrder,
    TradePosition,
    TradeRequest,
)
from agents.terminal.mt5.symbol_info import SymbolInfo
from agents.terminal.mt5.tick_array import TickArray, tick_array
from agents.terminal.simulator.book import position_margin, position_profit
from agents.terminal.simulator.orders import InvalidRequest, parse_request
from agents.terminal.simulator.trading import OrderDesk
from agents.terminal.simulator.world import SimWorld

When = datetime | float | int
UNSUPPORTED: tuple[int, str] = (c.RES_E_UNSUPPORTED, "Unsupported by the simulator")


def in_group(symbol: str, group: str | None) -> bool:
    """MT5 group masks: comma-separated patterns with `*`; a leading `!` excludes."""
    if not group:
        return True
    included = False
    for raw in group.split(","):
        pattern = raw.strip()
        if pattern.startswith("!"):
            if fnmatch.fnmatchcase(symbol, pattern[1:]):
                return False
        elif fnmatch.fnmatchcase(symbol, pattern):
            included = True
    return included


def show(world: SimWorld, symbol: str, enable: bool) -> None:
    """Put `symbol` in Market Watch or take it out (journaled: orders depend on it)."""
    if enable:
        world.hidden.discard(symbol)
    else:
        world.hidden.add(symbol)


def to_msc(when: When) -> int:
    if isinstance(when, datetime):
        return int(when.timestamp() * 1000)
    return int(when * 1000)


class ModuleApi:
    """Mixed into SimulatedTerminal; relies on its world, lock, gate and error."""

    world: SimWorld
    _lock: threading.RLock
    _error: tuple[int, str]

    def _gate(self) -> bool:  # pragma: no cover - provided by SimulatedTerminal
        raise NotImplementedError

    def _known(self, symbol: str) -> bool:  # pragma: no cover - provided by SimulatedTerminal
        raise NotImplementedError

    def _record(self, kind: str, data: dict[str, Any]) -> None:  # pragma: no cover
        raise NotImplementedError

    def symbol_info(self, symbol: str) -> SymbolInfo | None:  # pragma: no cover
        raise NotImplementedError

    def history_deals_get(self, *args: Any, **kwargs: Any) -> tuple[TradeDeal, ...] | None:
        raise NotImplementedError  # pragma: no cover

    def positions_get(self, *args: Any, **kwargs: Any) -> tuple[TradePosition, ...] | None:
        raise NotImplementedError  # pragma: no cover

    # --- symbols ---------------------------------------------------------------------------

    def symbols_total(self) -> int | None:
        with self._lock:
            return len(self.world.feeds) if self._gate() else None

    def symbols_get(self, group: str | None = None) -> tuple[SymbolInfo, ...] | None:
        with self._lock:
            if not self._gate():
                return None
            names = [s for s in self.world.feeds if in_group(s, group)]
            found = (self.symbol_info(s) for s in names)
            return tuple(info for info in found if info is not None)

    def symbol_select(self, symbol: str, enable: bool = True) -> bool:
        """Show or hide a symbol in Market Watch (`select` and `visible` in `symbol_info`)."""
        with self._lock:
            if not self._gate() or not self._known(symbol):
                return False
            if enable != (symbol not in self.world.hidden):
                show(self.world, symbol, enable)
                self._record("symbol_select", {"symbol": symbol, "enable": enable})
            return True

    def copy_ticks_range(
        self, symbol: str, date_from: When, date_to: When, flags: int
    ) -> TickArray | None:
        """Kept ticks from `date_from` to `date_to`, as the module's numpy structured array."""
        with self._lock:
            if not self._gate() or not self._known(symbol):
                return None
            lo, hi = to_msc(date_from), to_msc(date_to)
            ticks = self.world.feeds[symbol].ticks_from(lo, len(self.world.feeds[symbol].ticks))
            return tick_array(t for t in ticks if t.time_msc <= hi)

    def copy_rates_from(
        self, symbol: str, timeframe: int, date_from: When, count: int
    ) -> RatesArray | None:
        """Up to `count` bars opening at or before `date_from`, oldest first."""
        bars = self._rates(symbol, timeframe)
        if bars is None:
            return None
        upto = bars[bars["time"] <= to_msc(date_from) // 1000]
        return upto[max(0, len(upto) - count) :] if count > 0 else upto[:0]

    def copy_rates_from_pos(
        self, symbol: str, timeframe: int, start_pos: int, count: int
    ) -> RatesArray | None:
        """`count` bars back from bar `start_pos` (0: the current one), oldest first."""
        bars = self._rates(symbol, timeframe)
        if bars is None:
            return None
        end = len(bars) - max(0, start_pos)
        return bars[max(0, end - count) : max(0, end)] if count > 0 else bars[:0]

    def copy_rates_range(
        self, symbol: str, timeframe: int, date_from: When, date_to: When
    ) -> RatesArray | None:
        """Bars opening from `date_from` to `date_to` (both included), oldest first."""
        bars = self._rates(symbol, timeframe)
        if bars is None:
            return None
        lo, hi = to_msc(date_from) // 1000, to_msc(date_to) // 1000
        return bars[(bars["time"] >= lo) & (bars["time"] <= hi)]

    def _rates(self, symbol: str, timeframe: int) -> RatesArray | None:
        """Every bar of the kept ticks (`rates.rates_from_ticks`); None with the error set."""
        with self._lock:
            if not self._gate() or not self._known(symbol):
                return None
            seconds = TIMEFRAME_SECONDS.get(timeframe)
            if seconds is None:
                self._error = (c.RES_E_INVALID_PARAMS, f"timeframe {timeframe} is not supported")
                return None
            feed = self.world.feeds[symbol]
            return rates_from_ticks(feed.ticks, seconds, feed.spec.point)

    def market_book_add(self, symbol: str) -> bool:
        self._unsupported()
        return False

    def market_book_get(self, symbol: str) -> tuple[Any, ...] | None:
        self._unsupported()
        return None

    def market_book_release(self, symbol: str) -> bool:
        self._unsupported()
        return False

    def _unsupported(self) -> None:
        """None with RES_E_UNSUPPORTED (RES_E_INTERNAL_FAIL_* when disconnected)."""
        with self._lock:
            if self._gate():
                self._error = UNSUPPORTED

    # --- orders ----------------------------------------------------------------------------

    def orders_total(self) -> int | None:
        with self._lock:
            return len(self.world.pending) if self._gate() else None

    def orders_get(
        self, symbol: str | None = None, *, group: str | None = None, ticket: int | None = None
    ) -> tuple[TradeOrder, ...] | None:
        """Pending orders; one filter applies: symbol, else group, else ticket."""
        with self._lock:
            if not self._gate():
                return None
            world = self.world
            found = [
                o
                for o in world.pending.values()
                if (symbol is None or o.symbol == symbol)
                and (group is None or in_group(o.symbol, group))
                and (ticket is None or o.ticket == ticket)
            ]
            return tuple(o.as_mt5(_quote(world.feeds[o.symbol], o.type)) for o in found)

    def history_orders_get(
        self,
        date_from: When | None = None,
        date_to: When | None = None,
        *,
        group: str | None = None,
        ticket: int | None = None,
        position: int | None = None,
    ) -> tuple[TradeOrder, ...] | None:
        """Filled market orders (one per deal) and pending orders filled or expired."""
        deals = self.history_deals_get(
            date_from, date_to, group=group, ticket=ticket, position=position
        )
        if deals is None:
            return None
        with self._lock:
            done = {o.ticket: o for o in self.world.orders_done}
        lo = to_msc(date_from) if date_from is not None else 0
        hi = to_msc(date_to) if date_to is not None else 2**62
        orders = [done.pop(d.order).as_mt5(d.price) if d.order in done else _order_of(d)
                  for d in deals if d.order]  # fmt: skip
        expired = [
            o.as_mt5(o.price)
            for o in done.values()
            if o.state == c.ORDER_STATE_EXPIRED
            and (ticket is None or o.ticket == ticket)
            and (position is None)
            and (group is None or in_group(o.symbol, group))
            and lo <= o.done_msc <= hi
        ]
        return tuple(orders + expired)

    def history_orders_total(self, date_from: When, date_to: When) -> int | None:
        found = self.history_orders_get(date_from, date_to)
        return None if found is None else len(found)

    def history_deals_total(self, date_from: When, date_to: When) -> int | None:
        found = self.history_deals_get(date_from, date_to)
        return None if found is None else len(found)

    def order_calc_margin(
        self, action: int, symbol: str, volume: float, price: float
    ) -> float | None:
        with self._lock:
            if not self._gate() or not self._known(symbol):
                return None
            spec = self.world.specs[symbol]
            return round(position_margin(spec, volume, price, self.world.settings.leverage), 2)

    def order_calc_profit(
        self, action: int, symbol: str, volume: float, price_open: float, price_close: float
    ) -> float | None:
        with self._lock:
            if not self._gate() or not self._known(symbol):
                return None
            return position_profit(self.world.specs[symbol], action, volume, price_open,
                                   price_close)  # fmt: skip

    def order_check(self, request: dict[str, Any]) -> OrderCheckResult | None:
        """Check a market deal without sending it: retcode 0 when it would be accepted."""
        with self._lock:
            if not self._gate():
                return None
            try:
                req = parse_request(request)
            except InvalidRequest as exc:
                self._error = (c.RES_E_INVALID_PARAMS, str(exc))
                return None
            return self._check(req)

    def _check(self, req: TradeRequest) -> OrderCheckResult:
        book = self.world.book
        retcode = OrderDesk(self.world).rejection(req) or 0
        margin = book.margin
        if not retcode and not req.position and req.symbol in self.world.feeds:
            feed = self.world.feeds[req.symbol]
            price = feed.ask if req.type == c.ORDER_TYPE_BUY else feed.bid
            margin = round(book.margin_after(req.symbol, req.type, req.volume, price), 2)
            if margin > book.equity:
                retcode = c.TRADE_RETCODE_NO_MONEY
        level = round(book.equity / margin * 100.0, 2) if margin > 0 else 0.0
        return OrderCheckResult(
            retcode=retcode,
            balance=book.balance,
            equity=book.equity,
            profit=book.profit,
            margin=margin,
            margin_free=round(book.equity - margin, 2),
            margin_level=level,
            comment="Done" if not retcode else "Rejected",
            request=req,
        )


def _quote(feed: Any, type_: int) -> float:
    return float(feed.ask if type_ in (c.ORDER_TYPE_BUY_LIMIT, c.ORDER_TYPE_BUY_STOP) else feed.bid)


def _order_of(deal: TradeDeal) -> TradeOrder:
    return TradeOrder(
        ticket=deal.order,
        time_setup=deal.time,
        time_setup_msc=deal.time_msc,
        time_done=deal.time,
        time_done_msc=deal.time_msc,
        time_expiration=0,
        type=deal.type,
        type_time=c.ORDER_TIME_GTC,
        type_filling=c.ORDER_FILLING_FOK,
        state=c.ORDER_STATE_FILLED,
        magic=deal.magic,
        position_id=deal.position_id,
        position_by_id=0,
        reason=deal.reason,
        volume_initial=deal.volume,
        volume_current=0.0,
        price_open=deal.price,
        sl=0.0,
        tp=0.0,
        price_current=deal.price,
        price_stoplimit=0.0,
        symbol=deal.symbol,
        comment=deal.comment,
        external_id=deal.external_id,
    )
