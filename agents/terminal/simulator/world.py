"""The simulated market and account, advanced in fixed steps of simulated time."""

from __future__ import annotations

from collections import deque
from dataclasses import replace
from typing import Any

from agents.terminal.mt5 import constants as c
from agents.terminal.mt5.structures import TradeDeal
from agents.terminal.simulator.book import Book, OpenPosition
from agents.terminal.simulator.checked import FORGET_MS, TradeRequest, checked_price, stops
from agents.terminal.simulator.events import (
    FaultEnded,
    FaultStarted,
    PositionClosed,
    PositionModified,
    PositionNetted,
    PositionOpened,
    PositionsRolledOver,
    SimEvent,
    TickGenerated,
)
from agents.terminal.simulator.faults import FaultSchedule
from agents.terminal.simulator.market import SymbolFeed
from agents.terminal.simulator.netting import NetResult, NettingBook
from agents.terminal.simulator.pending import PendingOrder
from agents.terminal.simulator.server_time import DAY_MS, ServerTime
from agents.terminal.simulator.settings import SimulatorSettings, SymbolSpec
from agents.terminal.simulator.strategy import CloseIntent, OpenIntent, RandomTrader

_CLIENT_CLOSE_REASON = {
    c.POSITION_REASON_CLIENT: c.DEAL_REASON_CLIENT,
    c.POSITION_REASON_MOBILE: c.DEAL_REASON_MOBILE,
    c.POSITION_REASON_WEB: c.DEAL_REASON_WEB,
    c.POSITION_REASON_EXPERT: c.DEAL_REASON_EXPERT,
}


class SimWorld:
    """Prices, positions, faults and the scripted trader; step k is at origin + k x interval
    (true UTC). Every MT5 time it hands out is server time (`settings.server_timezone`), and
    swap is charged at the server's midnight."""

    def __init__(self, settings: SimulatorSettings, origin_msc: int) -> None:
        self.settings = settings
        self.origin_msc = origin_msc
        self.step_count = 0
        self.server_time = ServerTime(settings.server_timezone, settings.server_shift_h)
        self.specs: dict[str, SymbolSpec] = {s.name: s for s in settings.symbols}
        self.feeds = {s.name: SymbolFeed(s, settings.seed) for s in settings.symbols}
        start = self.now_msc
        self._server_day = start // DAY_MS
        book_type = NettingBook if settings.margin_mode == "netting" else Book
        self.book = book_type(self.specs, settings.initial_balance, settings.leverage, start)
        self.faults = FaultSchedule(settings.faults, settings.seed)
        self.trader = RandomTrader(settings.strategy, settings.seed)
        self.trader_tickets: list[int] = []
        """Identifiers of the scripted trader's positions (tickets may change at rollover)."""
        self.hidden: set[str] = set(settings.hidden_symbols)
        """Symbols taken out of Market Watch with `symbol_select(symbol, False)`."""
        self.trade_requests: deque[TradeRequest] = deque(maxlen=64)
        """Opens the scripted trader wants checked (`risk_check`), for the agent to take."""
        self.awaiting: dict[str, TradeRequest] = {}
        """Requests by client order id until a position with that comment opens."""
        self.trading_state = "ACTIVE"
        """The account's risk state as the agent last reported it; the scripted trader only
        opens positions while it is ACTIVE."""
        self.pending: dict[int, PendingOrder] = {}
        """Pending orders by ticket, until filled or expired."""
        self.orders_done: list[PendingOrder] = []
        """Pending orders filled or expired (`history_orders_get`)."""
        self.history: deque[SimEvent] = deque(maxlen=settings.history_limit)
        self._record_fault_transitions()
        for name, feed in self.feeds.items():
            self.history.append(TickGenerated(name, feed.step(start)))

    def __getstate__(self) -> dict[str, Any]:
        """Pickled without the event record (it is per process, not part of the world)."""
        state = dict(self.__dict__)
        state["history"] = deque(maxlen=self.history.maxlen)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Snapshots from before checked requests existed load with none."""
        state.setdefault("trade_requests", deque(maxlen=64))
        state.setdefault("awaiting", {})
        state.setdefault("pending", {})
        state.setdefault("orders_done", [])
        self.__dict__.update(state)

    @property
    def utc_msc(self) -> int:
        """True UTC of the current step."""
        return self.origin_msc + self.step_count * self.settings.tick_interval_ms

    @property
    def now_msc(self) -> int:
        """Server time of the current step (what MT5 stamps ticks, positions and deals with)."""
        return self.server_time.to_server(self.utc_msc)

    @property
    def elapsed_s(self) -> float:
        return self.step_count * self.settings.tick_interval_ms / 1000.0

    def step(self) -> None:
        """Advance one tick interval: faults, quotes, stops, the scripted trader, stop-out."""
        self.step_count += 1
        now, elapsed = self.now_msc, self.elapsed_s
        faults = self.faults.faults
        if faults:
            self._record_fault_transitions()
        history = self.history
        for name, feed in self.feeds.items():
            if faults and self.faults.active("stale_feed", elapsed, name) is not None:
                continue
            tick = feed.step(now)
            history.append(TickGenerated(name, tick))
            if self.book.positions:
                self._on_quote(name)
        if self.pending:
            self._check_pending(now)
        if now // DAY_MS != self._server_day:
            self._new_server_day(now)
        if self.trader.spec.kind != "none":
            self._run_trader()
        if self.book.positions:
            self.check_stop_out()

    def _new_server_day(self, now: int) -> None:
        ended = self._server_day
        self._server_day = now // DAY_MS
        # 1970-01-01 was a Thursday: (days + 4) % 7 is the weekday with 0 = Sunday.
        self.rollover((ended + 4) % 7)

    def rollover(self, day: int | None = None, *, reopen: bool | None = None) -> None:
        """Charge swap for the night after weekday `day` (None: one night) and, with
        `reopen` (default: `settings.rollover_reopen`), re-open positions under new tickets."""
        if not self.book.positions:
            return
        again = self.settings.rollover_reopen if reopen is None else reopen
        moved = self.book.rollover(self.now_msc, day, reopen=again)
        self.history.append(PositionsRolledOver(self.now_msc, tuple(moved)))

    def set_bid(self, symbol: str, bid: float) -> None:
        """Move `symbol` to `bid` now (a scripted jump), then apply stops and stop-out."""
        tick = self.feeds[symbol].set_bid(bid, self.now_msc)
        self.history.append(TickGenerated(symbol, tick))
        self._on_quote(symbol)
        self.check_stop_out()

    @property
    def margin_mode(self) -> int:
        """ACCOUNT_MARGIN_MODE_RETAIL_NETTING or ACCOUNT_MARGIN_MODE_RETAIL_HEDGING."""
        if isinstance(self.book, NettingBook):
            return c.ACCOUNT_MARGIN_MODE_RETAIL_NETTING
        return c.ACCOUNT_MARGIN_MODE_RETAIL_HEDGING

    def trade(
        self,
        symbol: str,
        type_: int,
        volume: float,
        *,
        sl: float = 0.0,
        tp: float = 0.0,
        magic: int = 0,
        reason: int = c.POSITION_REASON_CLIENT,
        comment: str = "",
    ) -> tuple[OpenPosition | None, TradeDeal]:
        """A market deal: a new position on a hedging account; on a netting account netted
        into the symbol's position. Returns the position afterwards (None: closed)."""
        book = self.book
        if not isinstance(book, NettingBook):
            return self.open(symbol, type_, volume, sl=sl, tp=tp, magic=magic, reason=reason,
                             comment=comment)  # fmt: skip
        feed = self.feeds[symbol]
        price = feed.ask if type_ == c.POSITION_TYPE_BUY else feed.bid
        result = book.net(symbol, type_, volume=volume, price=price, sl=sl, tp=tp, magic=magic,
                          reason=reason, comment=comment, time_msc=self.now_msc,
                          deal_reason=_CLIENT_CLOSE_REASON[reason])  # fmt: skip
        book.mark(symbol, feed.bid, feed.ask)
        self._record_net(result)
        if result.position is None:
            return None, result.deal
        return book.positions[result.position.ticket], result.deal

    def _record_net(self, result: NetResult) -> None:
        deal, pos, before = result.deal, result.position, result.before
        if before is None:
            assert pos is not None
            self._record_opened(pos, deal)
        elif result.entry == c.DEAL_ENTRY_OUT:
            if pos is None and before.identifier in self.trader_tickets:
                self.trader_tickets.remove(before.identifier)
            closed = PositionClosed(time_msc=deal.time_msc, ticket=before.ticket,
                                    symbol=deal.symbol, type=before.type, volume=deal.volume,
                                    price_close=deal.price, profit=deal.profit,
                                    deal_reason=deal.reason, deal=deal.ticket,
                                    remaining_volume=pos.volume if pos else 0.0)  # fmt: skip
            self.history.append(closed)
        else:
            assert pos is not None
            netted = PositionNetted(time_msc=deal.time_msc, ticket=pos.ticket,
                                    identifier=pos.identifier, symbol=pos.symbol,
                                    entry=result.entry, type=pos.type, volume=pos.volume,
                                    price=deal.price, deal=deal.ticket)  # fmt: skip
            self.history.append(netted)

    def open(
        self,
        symbol: str,
        type_: int,
        volume: float,
        *,
        sl: float = 0.0,
        tp: float = 0.0,
        magic: int = 0,
        reason: int = c.POSITION_REASON_CLIENT,
        comment: str = "",
    ) -> tuple[OpenPosition, TradeDeal]:
        feed = self.feeds[symbol]
        price = feed.ask if type_ == c.POSITION_TYPE_BUY else feed.bid
        now = self.now_msc
        pos, deal = self.book.open(
            symbol,
            type_,
            volume=volume,
            price=price,
            sl=sl,
            tp=tp,
            magic=magic,
            reason=reason,
            comment=comment,
            time_msc=now,
        )
        self.book.mark(symbol, feed.bid, feed.ask)
        self._record_opened(pos, deal)
        return self.book.positions[pos.ticket], deal

    def _record_opened(self, pos: OpenPosition, deal: TradeDeal) -> None:
        if self.awaiting and self.awaiting.pop(pos.comment, None) is not None:
            self.trader_tickets.append(pos.identifier)  # a checked open: the trader's own
        self.history.append(
            PositionOpened(
                time_msc=deal.time_msc,
                ticket=pos.ticket,
                symbol=pos.symbol,
                type=pos.type,
                volume=pos.volume,
                price_open=pos.price_open,
                sl=pos.sl,
                tp=pos.tp,
                magic=pos.magic,
                reason=pos.reason,
                comment=pos.comment,
                deal=deal.ticket,
            )
        )

    def close(
        self,
        ticket: int,
        volume: float | None,
        deal_reason: int,
        *,
        magic: int | None = None,
        comment: str = "",
        price: float | None = None,
    ) -> TradeDeal:
        """Close `volume` lots (all when None) at market, or at `price` when given."""
        pos = self.book.positions[ticket]
        feed = self.feeds[pos.symbol]
        if price is None:
            price = feed.bid if pos.type == c.POSITION_TYPE_BUY else feed.ask
        lots = pos.volume if volume is None else volume
        deal, remaining = self.book.close(
            ticket,
            lots,
            price,
            deal_reason=deal_reason,
            time_msc=self.now_msc,
            magic=magic,
            comment=comment,
        )
        if remaining == 0.0 and pos.identifier in self.trader_tickets:
            self.trader_tickets.remove(pos.identifier)
        self.history.append(
            PositionClosed(
                time_msc=self.now_msc,
                ticket=ticket,
                symbol=pos.symbol,
                type=pos.type,
                volume=lots,
                price_close=price,
                profit=deal.profit,
                deal_reason=deal_reason,
                deal=deal.ticket,
                remaining_volume=remaining,
            )
        )
        return deal

    def modify(self, ticket: int, sl: float, tp: float) -> OpenPosition:
        pos = self.book.modify(ticket, sl, tp, self.now_msc)
        self.history.append(PositionModified(self.now_msc, ticket, sl, tp))
        return pos

    def check_stop_out(self) -> None:
        """Close the worst position while the margin level is below the stop-out level."""
        book = self.book
        while book.positions:
            margin = book.margin
            if margin <= 0 or book.equity / margin * 100.0 >= self.settings.stop_out_level_percent:
                return
            worst = min(book.positions.values(), key=lambda p: (p.profit, p.ticket))
            self.close(worst.ticket, None, c.DEAL_REASON_SO)

    def place_pending(self, order: PendingOrder) -> PendingOrder:
        """Keep a pending order (its ticket is the book's next order ticket)."""
        placed = replace(order, ticket=self.book.take_order(), setup_msc=self.now_msc)
        self.pending[placed.ticket] = placed
        return placed

    def _check_pending(self, now: int) -> None:
        for order in list(self.pending.values()):
            feed = self.feeds[order.symbol]
            if order.expired(now):
                del self.pending[order.ticket]
                self.orders_done.append(order.done(c.ORDER_STATE_EXPIRED, now))
            elif order.triggered(feed.bid, feed.ask):
                del self.pending[order.ticket]
                self.book.fill_as(order.ticket)
                _, deal = self.trade(order.symbol, order.position_type, order.volume,
                                       sl=order.sl, tp=order.tp, magic=order.magic,
                                       reason=c.POSITION_REASON_EXPERT,
                                       comment=order.comment)  # fmt: skip
                self.orders_done.append(
                    order.done(c.ORDER_STATE_FILLED, now, int(deal.position_id))
                )

    def _record_fault_transitions(self) -> None:
        for fault, started in self.faults.transitions(self.elapsed_s):
            event = FaultStarted if started else FaultEnded
            self.history.append(event(self.now_msc, fault.kind, fault.symbol))

    def _on_quote(self, symbol: str) -> None:
        if not self.book.positions:
            return
        feed = self.feeds[symbol]
        self.book.mark(symbol, feed.bid, feed.ask)
        for pos in [p for p in self.book.positions.values() if p.symbol == symbol]:
            price = pos.price_current
            buy = pos.type == c.POSITION_TYPE_BUY
            if pos.sl and (price <= pos.sl if buy else price >= pos.sl):
                self.close(pos.ticket, None, c.DEAL_REASON_SL)
            elif pos.tp and (price >= pos.tp if buy else price <= pos.tp):
                self.close(pos.ticket, None, c.DEAL_REASON_TP)

    def _run_trader(self) -> None:
        elapsed = self.elapsed_s
        live = [s for s in self.feeds if self.faults.active("stale_feed", elapsed, s) is None]
        for intent in self.trader.decide(live, list(self.trader_tickets)):
            if isinstance(intent, CloseIntent):
                pos = self.book.position_by_identifier(intent.ticket)
                if pos is not None:
                    self.close(pos.ticket, None, _CLIENT_CLOSE_REASON[pos.reason])
            elif isinstance(intent, OpenIntent) and self.trading_state == "ACTIVE":
                if intent.client_order_id:
                    self._trader_request(intent)
                else:
                    self._trader_open(intent)

    def _trader_open(self, intent: OpenIntent) -> None:
        spec, feed = self.specs[intent.symbol], self.feeds[intent.symbol]
        buy = intent.type == c.POSITION_TYPE_BUY
        price = feed.ask if buy else feed.bid
        book = self.book
        if book.margin_after(intent.symbol, intent.type, intent.volume, price) > book.equity:
            return
        sl, tp = stops(spec, price, buy, intent.sl_pips, intent.tp_pips)
        pos, _ = self.trade(
            intent.symbol,
            intent.type,
            intent.volume,
            sl=sl,
            tp=tp,
            magic=intent.magic,
            reason=intent.reason,
        )
        if pos is not None and pos.identifier not in self.trader_tickets:
            self.trader_tickets.append(pos.identifier)

    def _trader_request(self, intent: OpenIntent) -> None:
        """Ask for a check instead of trading (the agent sends what is approved)."""
        spec, feed = self.specs[intent.symbol], self.feeds[intent.symbol]
        buy = intent.type == c.POSITION_TYPE_BUY
        market = feed.ask if buy else feed.bid
        if self.book.margin_after(intent.symbol, intent.type, intent.volume, market) > (
            self.book.equity
        ):
            return
        price = checked_price(spec, self.settings.strategy, intent.fate, market, buy)
        sl, tp = stops(spec, market, buy, intent.sl_pips, intent.tp_pips)
        request = TradeRequest(
            client_order_id=intent.client_order_id,
            symbol=intent.symbol,
            side="buy" if buy else "sell",
            volume=intent.volume,
            price=price,
            sl=sl,
            tp=tp,
            magic=intent.magic,
            fate=intent.fate,
            utc_msc=self.utc_msc,
        )
        self.trade_requests.append(request)
        self.awaiting[request.client_order_id] = request
        old = [k for k, r in self.awaiting.items() if self.utc_msc - r.utc_msc > FORGET_MS]
        for key in old:
            del self.awaiting[key]
