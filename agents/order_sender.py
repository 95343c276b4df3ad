"""Orders, closes and SL/TP changes through `order_send`, never executed twice.

Requotes and price changes (10004, 10020, 10021, and 10024 too many requests) are retried at
once: the terminal refused them. A None answer, an exception or a timeout is different: the
order may have executed. Then, before any further send, the terminal is searched for the
command's comment (and, for a close, its position); what is found is the answer, and a send
follows only when the order is provably absent. A command a restart interrupted starts with
that search (`resumed`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from agents.order_lookup import Found, Lookup
from agents.order_requests import (
    close_request,
    filling_for,
    modify_request,
    order_comment,
    place_request,
)
from agents.session import TerminalSession, TerminalUnavailable
from agents.terminal.mt5 import constants as c
from agents.terminal.mt5.structures import TradePosition
from agents.terminal.mt5.symbol_info import SymbolInfo
from bus.schemas import ModifyPosition, OrderExecuted, OrderRejected, PlaceOrder

log = logging.getLogger(__name__)

EXECUTED: Final = frozenset(
    {c.TRADE_RETCODE_DONE, c.TRADE_RETCODE_DONE_PARTIAL, c.TRADE_RETCODE_PLACED}
)
RETRY_RETCODES: Final = frozenset(
    {
        c.TRADE_RETCODE_REQUOTE,
        c.TRADE_RETCODE_PRICE_CHANGED,
        c.TRADE_RETCODE_PRICE_OFF,
        c.TRADE_RETCODE_TOO_MANY_REQUESTS,
    }
)

Result = OrderExecuted | OrderRejected
Check = Callable[[], Awaitable[Found | None]]


class Unknown(Exception):
    """The terminal could not be searched: whether the order executed is not known."""


@dataclass
class _Attempts:
    """One command's send loop: what it is about and what the last try left."""

    cid: str
    ticket: int | None
    symbol: str
    position: int | None
    uncertain: bool
    """An earlier try may have executed: search before sending."""
    last: tuple[int | None, str] = (None, "")
    refused: bool = False
    """The terminal refused for a reason a retry does not change."""
    already: int | None = None
    lost: bool = False
    """An answer was lost on the way (None, an exception, a timeout)."""


class OrderSender:
    """Sends one command's order with bounded retries and the lookup before each resend."""

    def __init__(
        self,
        account_id: str,
        session: TerminalSession,
        *,
        retries: int = 3,
        retry_delay_s: float = 0.05,
        terminal_wait_s: float = 5.0,
    ) -> None:
        self.account_id = account_id
        self.session = session
        self.retries = retries
        self.retry_delay_s = retry_delay_s
        self.terminal_wait_s = terminal_wait_s
        self.lookup = Lookup(session)
        self.clock: Callable[[], float] = time.time
        """The agent's UTC clock: answers are stamped with it, as heartbeats are."""
        self.server_offset_s: Callable[[], int | None] = lambda: None
        """The trade server's UTC offset (the agent's measurement): pending orders' expiry."""
        self._symbols: dict[str, SymbolInfo | None] = {}
        self.lookups = 0
        self.found = 0
        """How many lookups ran, and how many found an order executed without its answer."""

    # --- answers -------------------------------------------------------------------------

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def rejected(self, cid: str, ticket: int | None, comment: str,
                 retcode: int | None = None) -> OrderRejected:  # fmt: skip
        return OrderRejected(account_id=self.account_id, command_id=cid, ticket=ticket,
                             retcode=retcode, comment=comment, time=self.now())  # fmt: skip

    def executed_from(self, cid: str, ticket: int | None, found: Found) -> OrderExecuted:
        pending = found.deal is None and found.where in ("order", "history order")
        return OrderExecuted(
            account_id=self.account_id,
            command_id=cid,
            ticket=found.order if ticket is None else ticket,
            retcode=c.TRADE_RETCODE_PLACED if pending else c.TRADE_RETCODE_DONE,
            comment=f"found in {found.where}s after a lost answer",
            deal=found.deal,
            position=found.position,
            volume=found.volume,
            price=found.price,
            time=self.now(),
        )

    # --- the terminal ----------------------------------------------------------------------

    async def wait_terminal(self, wait_s: float | None = None) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.terminal_wait_s if wait_s is None else wait_s)
        while True:
            if not self.session.connected:
                await self.session.ensure_connected()
            if self.session.connected and self.session.breaker_state != "open":
                return True
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(0.05)

    async def positions(self, **filters: Any) -> tuple[TradePosition, ...]:
        found = await self.session.call("positions_get", **filters)
        return tuple(found or ())

    async def find(self, ticket: int) -> TradePosition | None:
        """The open position with this ticket, or whose identifier it is (a rollover re-open
        gives a position a new ticket; whoever knew the first one still finds it)."""
        found = await self.positions(ticket=ticket)
        match = next((p for p in found if int(p.ticket) == ticket), None)
        if match is None:
            match = next((p for p in await self.positions() if int(p.identifier) == ticket), None)
        return match

    async def _filling(self, symbol: str) -> int:
        """The symbol's filling mode; a symbol not in Market Watch is selected first (its
        quotes and orders fail until then)."""
        if symbol not in self._symbols:
            info = await self.session.call("symbol_info", symbol)
            if info is not None and not info.select:
                log.info("%s is not in Market Watch: selecting it", symbol)
                await self.session.call("symbol_select", symbol, True)
            self._symbols[symbol] = info
        return filling_for(self._symbols[symbol])

    async def _position_of(self, order: int) -> int | None:
        """The position identifier an order's deal went to (None: a pending order, or the
        history could not be read)."""
        try:
            deals = await self.session.call("history_deals_get", ticket=order)
        except TerminalUnavailable:
            return None
        return next((int(d.position_id) for d in deals or () if int(d.position_id)), None)

    # --- commands --------------------------------------------------------------------------

    async def place(self, command: PlaceOrder, since_s: float, *, resumed: bool) -> Result:
        cid, comment = command.command_id, order_comment(command.command_id)
        if not await self.wait_terminal():
            return self.rejected(cid, None, f"terminal unavailable: {self.session.last_error}")

        async def build() -> dict[str, Any]:
            filling = await self._filling(command.symbol)
            tick = await self.session.call("symbol_info_tick", command.symbol)
            offset = self.server_offset_s() or 0
            return place_request(command, tick, filling, server_offset_s=offset)

        async def check() -> Found | None:
            return await self.lookup.opened(comment, command.symbol, since_s)

        return await self._send(cid, None, command.symbol, build, check, position=None,
                                look_first=resumed)  # fmt: skip

    async def modify(self, command: ModifyPosition, *, resumed: bool) -> Result:
        cid, ticket = command.command_id, command.ticket
        if not await self.wait_terminal():
            return self.rejected(cid, ticket, f"terminal unavailable: {self.session.last_error}")
        try:
            position = await self.find(ticket)
        except TerminalUnavailable as exc:
            return self.rejected(cid, ticket, f"terminal unavailable: {exc}")
        if position is None:
            return self.rejected(cid, ticket, f"unknown ticket {ticket}: no open position")
        wanted = (float(command.sl or 0.0), float(command.tp or 0.0))

        async def build() -> dict[str, Any]:
            return modify_request(command, position)

        async def check() -> Found | None:
            now = await self.find(ticket)
            if now is None or (float(now.sl), float(now.tp)) != wanted:
                return None
            return Found(int(now.ticket), None, int(now.identifier), float(now.price_open),
                         float(now.volume), "position")  # fmt: skip

        return await self._send(cid, ticket, str(position.symbol), build, check,
                                position=int(position.identifier), look_first=resumed,
                                already=c.TRADE_RETCODE_NO_CHANGES)  # fmt: skip

    async def close(
        self, cid: str, ticket: int, volume: float | None, since_s: float, *, resumed: bool
    ) -> Result:
        if not await self.wait_terminal():
            return self.rejected(cid, ticket, f"terminal unavailable: {self.session.last_error}")
        comment = order_comment(cid)
        try:
            position = await self.find(ticket)
            if resumed:  # the close may have happened before the restart
                found = await self.lookup.closed(
                    comment, ticket if position is None else int(position.identifier), since_s
                )
                if found is not None:
                    self.found += 1
                    return self.executed_from(cid, ticket, found)
        except TerminalUnavailable as exc:
            why = f"terminal unavailable: {exc}"
            if resumed:
                why = (
                    f"outcome unknown: the agent stopped while closing and the terminal could "
                    f"not be searched ({exc}): check positions before resending"
                )
            return self.rejected(cid, ticket, why)
        if position is None:
            return self.rejected(cid, ticket, f"unknown ticket {ticket}: no open position")
        close_volume = float(position.volume) if volume is None else float(volume)
        if close_volume <= 0 or close_volume > float(position.volume) + 1e-9:
            return self.rejected(
                cid, ticket, f"volume {close_volume} not in (0, {float(position.volume)}]"
            )
        symbol, identifier = str(position.symbol), int(position.identifier)

        async def build() -> dict[str, Any]:
            filling = await self._filling(symbol)
            tick = await self.session.call("symbol_info_tick", symbol)
            return close_request(position, close_volume, tick, filling, cid)

        async def check() -> Found | None:
            return await self.lookup.closed(comment, identifier, since_s)

        return await self._send(cid, int(position.ticket), symbol, build, check,
                                position=identifier, look_first=False)  # fmt: skip

    # --- the send loop ---------------------------------------------------------------------

    async def _look(self, check: Check) -> Found | None:
        """Search the terminal; raises Unknown when it cannot answer."""
        self.lookups += 1
        if not await self.wait_terminal():
            raise Unknown(self.session.last_error or "terminal unavailable")
        try:
            found = await check()
        except TerminalUnavailable as exc:
            raise Unknown(str(exc)) from exc
        if found is not None:
            self.found += 1
        return found

    async def _send(
        self,
        cid: str,
        ticket: int | None,
        symbol: str,
        build: Callable[[], Awaitable[dict[str, Any]]],
        check: Check,
        *,
        position: int | None,
        look_first: bool,
        already: int | None = None,
    ) -> Result:
        """Send what `build` makes; `position` is the identifier when known (closes, SL/TP),
        else read from the order's deal; `already` is a retcode that means the wanted state
        holds after a lost answer (10025 No changes for SL/TP)."""
        state = _Attempts(cid, ticket, symbol, position, uncertain=look_first, already=already,
                          lost=look_first)  # fmt: skip
        for attempt in range(self.retries + 1):
            if attempt:
                await asyncio.sleep(self.retry_delay_s * attempt)
            final = await self._attempt(state, build, check)
            if final is not None:
                return final
            if state.refused:
                break
        if state.uncertain:
            return await self._last_look(cid, ticket, check, state.last)
        code, text = state.last
        tries = "" if state.refused else f" after {self.retries + 1} attempts"
        return self.rejected(cid, ticket, f"{text}{tries}", code)

    async def _attempt(
        self, state: _Attempts, build: Callable[[], Awaitable[dict[str, Any]]], check: Check
    ) -> Result | None:
        """One try: the lookup when an earlier answer was lost, then a send; a Result ends
        the command, None asks for another try (`state` says why)."""
        if state.uncertain:
            found = await self._search(state, check)
            if found is not None:
                log.warning("command %s: order found in %ss without its answer; not sent "
                            "again", state.cid, found.where)  # fmt: skip
                return self.executed_from(state.cid, state.ticket, found)
            if state.uncertain:
                return None  # not searched: nothing is proved, so nothing is sent
        try:
            request = await build()
        except TerminalUnavailable as exc:
            state.last = (None, f"terminal unavailable: {exc}")
            return None
        try:
            result, error = await self.session.order_send(request)
        except TerminalUnavailable as exc:
            state.last, state.uncertain = (None, f"terminal unavailable: {exc}"), True
            state.lost = True
            return None
        if result is None:
            state.last = (None, f"order_send returned None: {error[0]} {error[1]}")
            # -2 (invalid arguments) is refused before anything is sent; the same request fails
            state.refused = error[0] == c.RES_E_INVALID_PARAMS
            state.uncertain = state.lost = not state.refused
            return None
        return await self._answered(state, result)

    async def _search(self, state: _Attempts, check: Check) -> Found | None:
        try:
            found = await self._look(check)
        except Unknown as exc:
            state.last = (None, f"terminal could not be searched: {exc}")
            return None
        if found is None:
            state.uncertain = False  # provably absent: sending is safe
        return found

    async def _answered(self, state: _Attempts, result: Any) -> Result | None:
        retcode = int(result.retcode)
        if retcode == c.TRADE_RETCODE_INVALID_FILL:
            self._symbols.pop(state.symbol, None)  # read the modes again next time
        if retcode == state.already and state.lost:
            retcode = c.TRADE_RETCODE_DONE  # the lost attempt did it (rounded levels differ)
        if retcode not in EXECUTED:
            state.last = (retcode, str(result.comment))
            state.refused = retcode not in RETRY_RETCODES
            return None
        order, position = int(result.order), state.position
        if position is None and order and retcode != c.TRADE_RETCODE_PLACED:
            position = await self._position_of(order)
        return OrderExecuted(
            account_id=self.account_id,
            command_id=state.cid,
            ticket=state.ticket if state.ticket is not None else order,
            retcode=retcode,
            comment=str(result.comment),
            deal=int(result.deal) or None,
            position=position,
            volume=float(result.volume),
            price=float(result.price),
            time=self.now(),
        )

    async def _last_look(
        self, cid: str, ticket: int | None, check: Check, last: tuple[int | None, str]
    ) -> Result:
        """Out of attempts with an answer lost: what the terminal shows decides."""
        try:
            found = await self._look(check)
        except Unknown as exc:
            return self.rejected(
                cid,
                ticket,
                f"outcome unknown: {last[1]}; the terminal could not be searched ({exc}): "
                "check positions before resending",
            )
        if found is not None:
            return self.executed_from(cid, ticket, found)
        return self.rejected(cid, ticket, f"{last[1]} after {self.retries + 1} attempts")
