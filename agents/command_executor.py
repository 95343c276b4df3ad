"""Execute commands (orders, closes, SL/TP, trading state) once per command id."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any, Final, assert_never

from nats.aio.msg import Msg

from agents.order_requests import close_request, modify_request, order_comment, place_request
from agents.outbox import Outbox, OutgoingFact
from agents.session import TerminalSession, TerminalUnavailable
from agents.state import AgentState
from agents.store import transaction
from agents.terminal.mt5 import constants as c
from agents.terminal.mt5.structures import TradePosition
from agents.terminal.mt5.symbol_info import SymbolInfo
from bus import subjects
from bus.codec import encode, fact_msg_id
from bus.schemas import (
    CloseAll,
    ClosePosition,
    Command,
    ModifyPosition,
    OrderExecuted,
    OrderRejected,
    PlaceOrder,
    SetTradingState,
)
from bus.schemas.base import utc_now

__all__ = ["CommandExecutor", "Result", "filling_for", "order_comment"]

log = logging.getLogger(__name__)

DONE: Final = frozenset({c.TRADE_RETCODE_DONE, c.TRADE_RETCODE_DONE_PARTIAL})
RETRY_RETCODES: Final = frozenset(
    {
        c.TRADE_RETCODE_REQUOTE,
        c.TRADE_RETCODE_PRICE_CHANGED,
        c.TRADE_RETCODE_PRICE_OFF,
        c.TRADE_RETCODE_TOO_MANY_REQUESTS,
    }
)


def filling_for(info: SymbolInfo | None) -> int:
    """The `type_filling` a market deal on this symbol must use.

    Request and Instant execution pick it themselves (FOK is sent). Market execution allows
    only the flags in `filling_mode` (FOK 1, IOC 2), never RETURN; Exchange execution allows
    RETURN besides. FOK is preferred (all or nothing), as MQL5's CTrade does.
    """
    if info is None:
        return c.ORDER_FILLING_FOK
    if info.filling_mode & c.SYMBOL_FILLING_FOK:
        return c.ORDER_FILLING_FOK
    if info.filling_mode & c.SYMBOL_FILLING_IOC:
        return c.ORDER_FILLING_IOC
    if info.trade_exemode == c.SYMBOL_TRADE_EXECUTION_EXCHANGE:
        return c.ORDER_FILLING_RETURN
    return c.ORDER_FILLING_FOK  # Market execution with no flag: the broker's 10030 is reported


Result = OrderExecuted | OrderRejected


class CommandExecutor:
    """Turns commands into `order_send` calls and result facts, at most once per command id."""

    def __init__(
        self,
        account_id: str,
        session: TerminalSession,
        conn: sqlite3.Connection,
        state: AgentState,
        outbox: Outbox,
        *,
        retries: int = 3,
        retry_delay_s: float = 0.05,
        terminal_wait_s: float = 5.0,
        wake: Callable[[], None] = lambda: None,
    ) -> None:
        self.account_id = account_id
        self.session = session
        self._conn = conn
        self.state = state
        self.outbox = outbox
        self.retries = retries
        self.retry_delay_s = retry_delay_s
        self.terminal_wait_s = terminal_wait_s
        self._wake = wake
        self.executed = 0
        self.duplicates = 0
        self.trading_state = state.trading_state()
        """As recorded; the session pushes it to the terminal on every (re)connect."""
        session.trading_state = self.trading_state
        self._symbols: dict[str, SymbolInfo | None] = {}

    def reject_interrupted(self) -> int:
        """Answer commands a crash interrupted mid-execution: their outcome is unknown (an
        order may or may not have reached the terminal), so say so rather than stay silent.
        Returns how many were answered."""
        unfinished = self.state.unfinished_commands()
        for command_id, kind in unfinished:
            log.warning("command %s (%s) was interrupted by a restart: outcome unknown",
                        command_id, kind)  # fmt: skip
            comment = (
                f"outcome unknown: the agent stopped while executing this {kind}; "
                "check positions before resending"
            )
            self._finish(command_id, [self._rejected(command_id, None, comment)])
        return len(unfinished)

    async def handle(self, command: Command, msg: Msg | None = None) -> None:
        """Handle one decoded command (the safe_handler callback)."""
        seen = self.state.command(command.command_id)
        if seen is not None:
            self.duplicates += 1
            log.info("command %s seen before: not executed again", command.command_id)
            return
        kind = type(command).__name__
        with transaction(self._conn):
            self.state.command_started(command.command_id, kind)
        results: list[Result]
        match command:
            case ClosePosition():
                results = [await self._close_one(command, command.ticket, command.volume)]
            case CloseAll():
                results = await self._close_all(command)
            case SetTradingState():
                await self._set_trading_state(command)
                results = [self._state_set(command)]
            case PlaceOrder():
                results = [await self._place(command)]
            case ModifyPosition():
                results = [await self._modify(command)]
            case _:
                assert_never(command)
        self._finish(command.command_id, results)
        self.executed += 1

    async def _set_trading_state(self, command: SetTradingState) -> None:
        with transaction(self._conn):
            self.state.set_trading_state(command.state)
        self.trading_state = command.state
        log.info("trading state set to %s by %s: %s", command.state, command.actor,
                 command.reason)  # fmt: skip
        await self.session.want_trading_state(command.state)

    def _state_set(self, command: SetTradingState) -> OrderExecuted:
        """The answer to a SetTradingState: the risk engine stops waiting for it."""
        return OrderExecuted(
            account_id=self.account_id,
            command_id=command.command_id,
            ticket=0,
            retcode=c.TRADE_RETCODE_DONE,
            comment=f"trading state {command.state}",
            time=utc_now(),
        )

    def _finish(self, command_id: str, results: list[Result]) -> None:
        facts = [self._fact(r, i, len(results)) for i, r in enumerate(results)]
        summary = facts[-1] if facts else OutgoingFact("", "", b"")
        with transaction(self._conn):
            self.outbox.append(facts)
            self.state.command_finished(
                command_id, summary.subject, summary.msg_id, summary.payload
            )
        self._wake()

    def _fact(self, result: Result, index: int, total: int) -> OutgoingFact:
        kind = "executed" if isinstance(result, OrderExecuted) else "rejected"
        source = result.command_id if total == 1 else f"{result.command_id}-{result.ticket}"
        if total > 1 and result.ticket is None:
            source = f"{result.command_id}-{index}"
        return OutgoingFact(
            subjects.order(self.account_id, kind),
            fact_msg_id(self.account_id, "order", source),
            encode(result),
        )

    async def _wait_terminal(self) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.terminal_wait_s
        while loop.time() < deadline:
            if self.session.connected and self.session.breaker_state != "open":
                return True
            await asyncio.sleep(0.05)
        return False

    def _rejected(self, command_id: str, ticket: int | None, comment: str,
                  retcode: int | None = None) -> OrderRejected:  # fmt: skip
        return OrderRejected(
            account_id=self.account_id,
            command_id=command_id,
            ticket=ticket,
            retcode=retcode,
            comment=comment,
            time=utc_now(),
        )

    async def _positions(self, **filters: Any) -> tuple[TradePosition, ...]:
        found = await self.session.call("positions_get", **filters)
        return tuple(found or ())

    async def _find(self, ticket: int) -> TradePosition | None:
        """The open position with this ticket, or whose identifier it is (a rollover re-open
        gives a position a new ticket; whoever knew the first one still finds it)."""
        found = await self._positions(ticket=ticket)
        match = next((p for p in found if int(p.ticket) == ticket), None)
        if match is None:
            match = next((p for p in await self._positions() if int(p.identifier) == ticket), None)
        return match

    async def _filling(self, symbol: str) -> int:
        if symbol not in self._symbols:
            self._symbols[symbol] = await self.session.call("symbol_info", symbol)
        return filling_for(self._symbols[symbol])

    async def _close_all(self, command: CloseAll) -> list[Result]:
        if not await self._wait_terminal():
            return [self._rejected(command.command_id, None,
                                   f"terminal unavailable: {self.session.last_error}")]  # fmt: skip
        try:
            filters = {"symbol": command.symbol} if command.symbol else {}
            positions = await self._positions(**filters)
        except TerminalUnavailable as exc:
            return [self._rejected(command.command_id, None, f"terminal unavailable: {exc}")]
        if not positions:
            return [
                OrderExecuted(
                    account_id=self.account_id,
                    command_id=command.command_id,
                    ticket=0,
                    retcode=c.TRADE_RETCODE_DONE,
                    comment="no open positions to close",
                    time=utc_now(),
                )
            ]
        return [await self._close_one(command, int(p.ticket), None) for p in positions]

    async def _close_one(
        self, command: ClosePosition | CloseAll, ticket: int, volume: float | None
    ) -> Result:
        cid = command.command_id
        if not await self._wait_terminal():
            return self._rejected(cid, ticket, f"terminal unavailable: {self.session.last_error}")
        try:
            position = await self._find(ticket)
        except TerminalUnavailable as exc:
            return self._rejected(cid, ticket, f"terminal unavailable: {exc}")
        if position is None:
            return self._rejected(cid, ticket, f"unknown ticket {ticket}: no open position")
        close_volume = float(position.volume) if volume is None else float(volume)
        if close_volume <= 0 or close_volume > float(position.volume) + 1e-9:
            return self._rejected(
                cid, ticket, f"volume {close_volume} not in (0, {float(position.volume)}]"
            )
        return await self._send_close(cid, position, close_volume)

    async def _place(self, command: PlaceOrder) -> Result:
        cid = command.command_id
        if not await self._wait_terminal():
            return self._rejected(cid, None, f"terminal unavailable: {self.session.last_error}")

        async def build() -> dict[str, Any]:
            tick = await self.session.call("symbol_info_tick", command.symbol)
            return place_request(command, tick, await self._filling(command.symbol))

        return await self._send(cid, None, command.symbol, build, position=None)

    async def _modify(self, command: ModifyPosition) -> Result:
        cid, ticket = command.command_id, command.ticket
        if not await self._wait_terminal():
            return self._rejected(cid, ticket, f"terminal unavailable: {self.session.last_error}")
        try:
            position = await self._find(ticket)
        except TerminalUnavailable as exc:
            return self._rejected(cid, ticket, f"terminal unavailable: {exc}")
        if position is None:
            return self._rejected(cid, ticket, f"unknown ticket {ticket}: no open position")

        async def build() -> dict[str, Any]:
            return modify_request(command, position)

        return await self._send(
            cid, ticket, str(position.symbol), build, position=int(position.identifier)
        )

    async def _send_close(self, cid: str, position: TradePosition, volume: float) -> Result:
        symbol = str(position.symbol)

        async def build() -> dict[str, Any]:
            tick = await self.session.call("symbol_info_tick", symbol)
            return close_request(position, volume, tick, await self._filling(symbol), cid)

        return await self._send(
            cid, int(position.ticket), symbol, build, position=int(position.identifier)
        )

    async def _position_of(self, order: int) -> int | None:
        """The position identifier an order's deal went to (None: a pending order, or the
        history could not be read)."""
        try:
            deals = await self.session.call("history_deals_get", ticket=order)
        except TerminalUnavailable:
            return None
        return next((int(d.position_id) for d in deals or () if int(d.position_id)), None)

    async def _send(
        self,
        cid: str,
        ticket: int | None,
        symbol: str,
        build: Callable[[], Awaitable[dict[str, Any]]],
        *,
        position: int | None,
    ) -> Result:
        """Send what `build` makes, retrying requotes and lost answers; `position` is the
        identifier when known (closes, SL/TP), else read from the order's deal."""
        last: tuple[int | None, str] = (None, "")
        for attempt in range(self.retries + 1):
            if attempt:
                await asyncio.sleep(self.retry_delay_s * attempt)
            try:
                result, error = await self.session.order_send(await build())
            except TerminalUnavailable as exc:
                last = (None, f"terminal unavailable: {exc}")
                continue
            if result is None:
                last = (None, f"order_send returned None: {error[0]} {error[1]}")
                if error[0] == c.RES_E_INVALID_PARAMS:
                    return self._rejected(cid, ticket, last[1])  # the same request fails again
                continue
            retcode = int(result.retcode)
            if retcode == c.TRADE_RETCODE_INVALID_FILL:
                self._symbols.pop(symbol, None)  # read the modes again next time
            if retcode in DONE or retcode == c.TRADE_RETCODE_PLACED:
                order = int(result.order)
                if position is None and order:
                    position = await self._position_of(order)
                return OrderExecuted(
                    account_id=self.account_id,
                    command_id=cid,
                    ticket=ticket if ticket is not None else order,
                    retcode=retcode,
                    comment=str(result.comment),
                    deal=int(result.deal) or None,
                    position=position,
                    volume=float(result.volume),
                    price=float(result.price),
                    time=utc_now(),
                )
            last = (retcode, str(result.comment))
            if retcode not in RETRY_RETCODES:
                break
        tries = (
            f" after {self.retries + 1} attempts"
            if last[0] in RETRY_RETCODES or last[0] is None
            else ""
        )
        return self._rejected(cid, ticket, f"{last[1]}{tries}", last[0])
