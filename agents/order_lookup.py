"""Whether an order mtq sent reached the terminal: the comment `mtq-<8 hex>` (and, for a
close, the position) looked up in deals, positions and orders.

`order_send` can execute and still return None (or raise, or time out). Before sending again
the executor asks here; only `ABSENT` allows a second send. A lookup the terminal cannot
answer raises `TerminalUnavailable`: nothing is proved then.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from agents.session import TerminalSession
from agents.terminal.mt5 import constants as c
from agents.terminal.mt5.structures import TradeDeal, TradeOrder, TradePosition

WINDOW_S: Final = 2 * 86_400.0
"""Deal history is searched from this long before the command to this long after now: MT5
filters by server time, which is UTC plus an offset of at most 14 hours either way."""
_CLOSING: Final = frozenset({c.DEAL_ENTRY_OUT, c.DEAL_ENTRY_OUT_BY, c.DEAL_ENTRY_INOUT})
_OPENING: Final = frozenset({c.DEAL_ENTRY_IN, c.DEAL_ENTRY_INOUT})


@dataclass(frozen=True)
class Found:
    """What the terminal shows of an order that executed (`deal` None: a pending order)."""

    order: int
    deal: int | None
    position: int | None
    price: float
    volume: float
    where: str
    """"deal", "position", "order" or "history order": where it was seen."""


class Lookup:
    """Searches one account's terminal for the traces of an order it sent."""

    def __init__(self, session: TerminalSession, *, wall: Callable[[], float] = time.time) -> None:
        self.session = session
        self.wall = wall
        """The agent's UTC clock: the end of the history searched."""

    async def _deals(self, since_s: float) -> tuple[TradeDeal, ...]:
        found = await self.session.call(
            "history_deals_get", int(since_s - WINDOW_S), int(self.wall() + WINDOW_S)
        )
        return tuple(found or ())

    async def opened(self, comment: str, symbol: str, since_s: float) -> Found | None:
        """The deal, position or pending order a PlaceOrder with `comment` made, if any."""
        for deal in await self._deals(since_s):
            if deal.comment == comment and deal.symbol == symbol and deal.entry in _OPENING:
                return _from_deal(deal)
        positions: tuple[TradePosition, ...] = tuple(
            await self.session.call("positions_get", symbol=symbol) or ()
        )
        for pos in positions:
            if pos.comment == comment:
                return Found(int(pos.ticket), None, int(pos.identifier), float(pos.price_open),
                             float(pos.volume), "position")  # fmt: skip
        orders: tuple[TradeOrder, ...] = tuple(
            await self.session.call("orders_get", symbol=symbol) or ()
        )
        for order in orders:
            if order.comment == comment:
                return _from_order(order, "order")
        history: tuple[TradeOrder, ...] = tuple(
            await self.session.call(
                "history_orders_get", int(since_s - WINDOW_S), int(self.wall() + WINDOW_S)
            )
            or ()
        )
        for order in history:
            if order.comment == comment and order.symbol == symbol:
                return _from_order(order, "history order")
        return None

    async def closed(self, comment: str, identifier: int, since_s: float) -> Found | None:
        """The closing deal with `comment` on the position `identifier`, if any."""
        deals: tuple[TradeDeal, ...] = tuple(
            await self.session.call("history_deals_get", position=identifier) or ()
        )
        if not any(d.comment == comment for d in deals):
            deals = await self._deals(since_s)  # a broker whose position filter missed it
        for deal in deals:
            if (
                deal.comment == comment
                and int(deal.position_id) == identifier
                and deal.entry in _CLOSING
            ):
                return _from_deal(deal)
        return None

    async def closes(self, comment: str, since_s: float) -> list[Found]:
        """Every closing deal with `comment` (a CloseAll closes several positions)."""
        return [
            _from_deal(d)
            for d in await self._deals(since_s)
            if d.comment == comment and d.entry in _CLOSING
        ]


def _from_deal(deal: TradeDeal) -> Found:
    return Found(int(deal.order), int(deal.ticket), int(deal.position_id) or None,
                 float(deal.price), float(deal.volume), "deal")  # fmt: skip


def _from_order(order: TradeOrder, where: str) -> Found:
    position = int(order.position_id) or None
    return Found(int(order.ticket), None, position, float(order.price_open),
                 float(order.volume_initial), where)  # fmt: skip
