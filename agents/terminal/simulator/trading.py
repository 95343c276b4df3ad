"""Executing `order_send` requests against the simulated world, with MT5 retcodes."""

from __future__ import annotations

from agents.terminal.mt5 import constants as c
from agents.terminal.mt5.structures import OrderSendResult, TradeRequest
from agents.terminal.simulator.orders import (
    RETCODE_COMMENTS,
    filling_allowed,
    frozen,
    stops_valid,
    volume_valid,
)
from agents.terminal.simulator.pending import BUY_TYPES, PENDING_TYPES, PendingOrder, price_valid
from agents.terminal.simulator.sessions import in_session
from agents.terminal.simulator.world import SimWorld

_QUOTED = frozenset({c.SYMBOL_TRADE_EXECUTION_REQUEST, c.SYMBOL_TRADE_EXECUTION_INSTANT})


class OrderDesk:
    """Fills market deals, closes (TRADE_ACTION_DEAL with `position`) and SL/TP changes.

    On a netting account a deal without `position` is netted into the symbol's position
    (added, reduced, closed or reversed); one with `position` closes at most that position's
    volume (the simulator's reading: naming the position asks for a close, never a reversal).
    """

    def __init__(self, world: SimWorld) -> None:
        self.world = world
        self.request_id = 0

    def execute(self, req: TradeRequest) -> OrderSendResult:
        self.request_id += 1
        refused = self._gate(req)
        if refused is not None:
            return self._result(refused, req)
        if req.action == c.TRADE_ACTION_DEAL:
            return self._deal(req)
        if req.action == c.TRADE_ACTION_SLTP:
            return self._sltp(req)
        if req.action == c.TRADE_ACTION_PENDING:
            return self._pending(req)
        return self._result(c.TRADE_RETCODE_INVALID, req)

    def _gate(self, req: TradeRequest) -> int | None:
        """What refuses any order before its kind is looked at: AutoTrading off (10027), no
        trade server (10031), a symbol not in Market Watch (10013), outside the symbol's
        sessions (10018)."""
        world, elapsed = self.world, self.world.elapsed_s
        if world.faults.active("autotrading_disabled", elapsed) is not None:
            return c.TRADE_RETCODE_CLIENT_DISABLES_AT
        if world.faults.active("trade_server_disconnect", elapsed) is not None:
            return c.TRADE_RETCODE_CONNECTION
        symbol = req.symbol
        if symbol in world.hidden:
            return c.TRADE_RETCODE_INVALID
        spec = world.specs.get(symbol)
        if spec is not None and not in_session(spec.sessions, world.now_msc):
            return c.TRADE_RETCODE_MARKET_CLOSED
        return None

    def _result(
        self,
        retcode: int,
        req: TradeRequest,
        *,
        deal: int = 0,
        order: int = 0,
        volume: float = 0.0,
        price: float = 0.0,
    ) -> OrderSendResult:
        feed = self.world.feeds.get(req.symbol)
        bid, ask = (feed.bid, feed.ask) if feed is not None else (0.0, 0.0)
        return OrderSendResult(
            retcode=retcode,
            deal=deal,
            order=order,
            volume=volume,
            price=price,
            bid=bid,
            ask=ask,
            comment=RETCODE_COMMENTS.get(retcode, str(retcode)),
            request_id=self.request_id,
            retcode_external=0,
            request=req,
        )

    def rejection(self, req: TradeRequest) -> int | None:
        """The retcode a market deal would be refused with (None: it would be filled)."""
        return self._deal_rejection(req) if req.action == c.TRADE_ACTION_DEAL else None

    def _deal_rejection(self, req: TradeRequest) -> int | None:
        world = self.world
        if req.symbol not in world.feeds or req.type not in (c.ORDER_TYPE_BUY, c.ORDER_TYPE_SELL):
            return c.TRADE_RETCODE_INVALID
        spec, feed = world.specs[req.symbol], world.feeds[req.symbol]
        if world.faults.active("stale_feed", world.elapsed_s, req.symbol) is not None:
            return c.TRADE_RETCODE_MARKET_CLOSED
        if not filling_allowed(spec, req.type_filling):
            return c.TRADE_RETCODE_INVALID_FILL
        if not volume_valid(spec, req.volume):
            return c.TRADE_RETCODE_INVALID_VOLUME
        market = feed.ask if req.type == c.ORDER_TYPE_BUY else feed.bid
        moved = abs(req.price - market) > max(req.deviation, 0) * spec.point + 1e-12
        if req.price and moved and spec.trade_exemode in _QUOTED:
            return c.TRADE_RETCODE_REQUOTE  # market execution fills at market, whatever the price
        return None

    def _deal(self, req: TradeRequest) -> OrderSendResult:
        rejection = self._deal_rejection(req)
        if rejection is not None:
            return self._result(rejection, req)
        if req.position:
            return self._close(req)
        world, feed = self.world, self.world.feeds[req.symbol]
        market = feed.ask if req.type == c.ORDER_TYPE_BUY else feed.bid
        spec = world.specs[req.symbol]
        if not stops_valid(
            req.type, req.sl, req.tp, feed.bid, feed.ask, gap=spec.stops_level * spec.point
        ):
            return self._result(c.TRADE_RETCODE_INVALID_STOPS, req)
        margin = world.book.margin_after(req.symbol, req.type, req.volume, market)
        if margin > world.book.equity:
            return self._result(c.TRADE_RETCODE_NO_MONEY, req)
        _, deal = world.trade(
            req.symbol,
            req.type,
            req.volume,
            sl=req.sl,
            tp=req.tp,
            magic=req.magic,
            reason=c.POSITION_REASON_EXPERT,
            comment=req.comment,
        )
        return self._result(
            c.TRADE_RETCODE_DONE,
            req,
            deal=deal.ticket,
            order=deal.order,
            volume=req.volume,
            price=deal.price,
        )

    def _close(self, req: TradeRequest) -> OrderSendResult:
        pos = self.world.book.positions.get(req.position)
        if pos is None:
            return self._result(c.TRADE_RETCODE_POSITION_CLOSED, req)
        if pos.symbol != req.symbol or pos.type == req.type:
            return self._result(c.TRADE_RETCODE_INVALID, req)
        if req.volume > pos.volume + 1e-9:
            return self._result(c.TRADE_RETCODE_INVALID_CLOSE_VOLUME, req)
        deal = self.world.close(
            pos.ticket, req.volume, c.DEAL_REASON_EXPERT, magic=req.magic, comment=req.comment
        )
        return self._result(
            c.TRADE_RETCODE_DONE,
            req,
            deal=deal.ticket,
            order=deal.order,
            volume=deal.volume,
            price=deal.price,
        )

    def _sltp(self, req: TradeRequest) -> OrderSendResult:
        world = self.world
        pos = world.book.positions.get(req.position)
        if pos is None:
            return self._result(c.TRADE_RETCODE_POSITION_CLOSED, req)
        if (req.sl, req.tp) == (pos.sl, pos.tp):
            return self._result(c.TRADE_RETCODE_NO_CHANGES, req)
        feed, spec = world.feeds[pos.symbol], world.specs[pos.symbol]
        if frozen(pos.type, pos.sl, pos.tp, feed.bid, feed.ask, gap=spec.freeze_level * spec.point):
            return self._result(c.TRADE_RETCODE_FROZEN, req)
        if not stops_valid(
            pos.type, req.sl, req.tp, feed.bid, feed.ask, gap=spec.stops_level * spec.point
        ):
            return self._result(c.TRADE_RETCODE_INVALID_STOPS, req)
        world.modify(pos.ticket, req.sl, req.tp)
        return self._result(c.TRADE_RETCODE_DONE, req)

    def _pending(self, req: TradeRequest) -> OrderSendResult:
        """A limit or stop order at `price`: kept until the quote reaches it or it expires."""
        world = self.world
        if req.symbol not in world.feeds or req.type not in PENDING_TYPES:
            return self._result(c.TRADE_RETCODE_INVALID, req)
        spec, feed = world.specs[req.symbol], world.feeds[req.symbol]
        if not volume_valid(spec, req.volume):
            return self._result(c.TRADE_RETCODE_INVALID_VOLUME, req)
        buy = req.type in BUY_TYPES
        market = feed.ask if buy else feed.bid
        gap = spec.stops_level * spec.point
        if not price_valid(req.type, req.price, feed.bid, feed.ask) or (
            abs(req.price - market) < gap - 1e-12
        ):
            return self._result(c.TRADE_RETCODE_INVALID_PRICE, req)
        side = c.POSITION_TYPE_BUY if buy else c.POSITION_TYPE_SELL
        if not stops_valid(side, req.sl, req.tp, req.price, req.price, gap=gap):
            return self._result(c.TRADE_RETCODE_INVALID_STOPS, req)
        specified = req.type_time == c.ORDER_TIME_SPECIFIED
        if specified and req.expiration * 1000 <= world.now_msc:
            return self._result(c.TRADE_RETCODE_INVALID_EXPIRATION, req)
        order = world.place_pending(
            PendingOrder(ticket=0, symbol=req.symbol, type=req.type, volume=req.volume,
                         price=req.price, sl=req.sl, tp=req.tp, magic=req.magic,
                         comment=req.comment, type_time=req.type_time,
                         expiration_s=req.expiration if specified else 0, setup_msc=0)
        )  # fmt: skip
        return self._result(c.TRADE_RETCODE_PLACED, req, order=order.ticket, volume=req.volume,
                            price=req.price)  # fmt: skip
