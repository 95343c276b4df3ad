"""The simulated market and account, advanced in fixed steps of simulated time."""

from __future__ import annotations

from collections import deque
from typing import Any

from agents.terminal.mt5 import constants as c
from agents.terminal.simulator.book import Book, OpenPosition
from agents.terminal.simulator.events import (
    FaultEnded,
    FaultStarted,
    PositionClosed,
    PositionModified,
    PositionOpened,
    SimEvent,
    TickGenerated,
)
from agents.terminal.simulator.faults import FaultSchedule
from agents.terminal.simulator.market import SymbolFeed
from agents.terminal.simulator.settings import SimulatorSettings, SymbolSpec
from agents.terminal.simulator.strategy import CloseIntent, OpenIntent, RandomTrader
from agents.terminal.mt5.structures import TradeDeal

_CLIENT_CLOSE_REASON = {
    c.POSITION_REASON_CLIENT: c.DEAL_REASON_CLIENT,
    c.POSITION_REASON_MOBILE: c.DEAL_REASON_MOBILE,
    c.POSITION_REASON_WEB: c.DEAL_REASON_WEB,
    c.POSITION_REASON_EXPERT: c.DEAL_REASON_EXPERT,
}


class SimWorld:
    """Prices, positions, faults and the scripted trader; step k is at origin + k x interval."""

    def __init__(self, settings: SimulatorSettings, origin_msc: int) -> None:
        self.settings = settings
        self.origin_msc = origin_msc
        self.step_count = 0
        self.specs: dict[str, SymbolSpec] = {s.name: s for s in settings.symbols}
        self.feeds = {s.name: SymbolFeed(s, settings.seed) for s in settings.symbols}
        self.book = Book(self.specs, settings.initial_balance, settings.leverage, origin_msc)
        self.faults = FaultSchedule(settings.faults, settings.seed)
        self.trader = RandomTrader(settings.strategy, settings.seed)
        self.trader_tickets: list[int] = []
        self.trading_state = "ACTIVE"
        """The account's risk state as the agent last reported it; the scripted trader only
        opens positions while it is ACTIVE."""
        self.history: deque[SimEvent] = deque(maxlen=settings.history_limit)
        self._record_fault_transitions()
        for name, feed in self.feeds.items():
            self.history.append(TickGenerated(name, feed.step(origin_msc)))

    def __getstate__(self) -> dict[str, Any]:
        """Pickled without the event record (it is per process, not part of the world)."""
        state = dict(self.__dict__)
        state["history"] = deque(maxlen=self.history.maxlen)
        return state

    @property
    def now_msc(self) -> int:
        return self.origin_msc + self.step_count * self.settings.tick_interval_ms

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
        if self.trader.spec.kind != "none":
            self._run_trader()
        if self.book.positions:
            self.check_stop_out()

    def set_bid(self, symbol: str, bid: float) -> None:
        """Move `symbol` to `bid` now (a scripted jump), then apply stops and stop-out."""
        tick = self.feeds[symbol].set_bid(bid, self.now_msc)
        self.history.append(TickGenerated(symbol, tick))
        self._on_quote(symbol)
        self.check_stop_out()

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
        self.history.append(
            PositionOpened(
                time_msc=now,
                ticket=pos.ticket,
                symbol=symbol,
                type=type_,
                volume=volume,
                price_open=price,
                sl=sl,
                tp=tp,
                magic=magic,
                reason=reason,
                comment=comment,
                deal=deal.ticket,
            )
        )
        return self.book.positions[pos.ticket], deal

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
        if remaining == 0.0 and ticket in self.trader_tickets:
            self.trader_tickets.remove(ticket)
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
                reason = _CLIENT_CLOSE_REASON[self.book.positions[intent.ticket].reason]
                self.close(intent.ticket, None, reason)
            elif isinstance(intent, OpenIntent) and self.trading_state == "ACTIVE":
                self._trader_open(intent)

    def _trader_open(self, intent: OpenIntent) -> None:
        spec, feed = self.specs[intent.symbol], self.feeds[intent.symbol]
        buy = intent.type == c.POSITION_TYPE_BUY
        price = feed.ask if buy else feed.bid
        book = self.book
        if book.margin_after_open(intent.symbol, intent.volume, price) > book.equity:
            return
        sign = 1 if buy else -1
        sl = round(price - sign * intent.sl_pips * spec.pip, spec.digits) if intent.sl_pips else 0.0
        tp = round(price + sign * intent.tp_pips * spec.pip, spec.digits) if intent.tp_pips else 0.0
        pos, _ = self.open(
            intent.symbol,
            intent.type,
            intent.volume,
            sl=sl,
            tp=tp,
            magic=intent.magic,
            reason=intent.reason,
        )
        self.trader_tickets.append(pos.ticket)
