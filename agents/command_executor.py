"""Execute commands (orders, closes, SL/TP, trading state) once per command id."""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable
from typing import assert_never

import msgspec
from nats.aio.msg import Msg

from agents.order_requests import filling_for, order_comment
from agents.order_sender import OrderSender, Result
from agents.outbox import Outbox, OutgoingFact
from agents.session import TerminalSession, TerminalUnavailable
from agents.state import AgentState, Unfinished
from agents.store import transaction
from agents.terminal.mt5 import constants as c
from bus import subjects
from bus.codec import encode, fact_msg_id
from bus.schemas import (
    CloseAll,
    ClosePosition,
    Command,
    ModifyPosition,
    OrderExecuted,
    PlaceOrder,
    SetTradingState,
)

__all__ = ["CommandExecutor", "Result", "filling_for", "order_comment"]

log = logging.getLogger(__name__)

_BODY_DECODER = msgspec.json.Decoder(Command)
RESUME_WAIT_S = 60.0
"""How long a restarted agent waits for the terminal before it answers an interrupted
order "outcome unknown" (it cannot search the terminal without it)."""


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
        self.sender = OrderSender(account_id, session, retries=retries,
                                  retry_delay_s=retry_delay_s,
                                  terminal_wait_s=terminal_wait_s)  # fmt: skip
        self.resume_wait_s = RESUME_WAIT_S
        self.clock: Callable[[], float] = time.time
        """The agent's UTC clock (seconds): bounds the history a lookup searches."""
        self._wake = wake
        self.executed = 0
        self.duplicates = 0
        self.resumed = 0
        self.trading_state = state.trading_state()
        """As recorded; the session pushes it to the terminal on every (re)connect."""
        session.trading_state = self.trading_state

    def use_clock(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.sender.clock = clock
        self.sender.lookup.wall = clock

    @property
    def retry_delay_s(self) -> float:
        return self.sender.retry_delay_s

    @retry_delay_s.setter
    def retry_delay_s(self, value: float) -> None:
        self.sender.retry_delay_s = value

    async def resume_interrupted(self) -> int:
        """Finish the commands a crash interrupted mid-execution. Orders, closes and SL/TP
        changes are first looked up on the terminal (found: answered from what is there;
        provably absent: executed now); a command recorded without its body (an older file)
        is answered "outcome unknown". Returns how many were answered."""
        unfinished = self.state.unfinished_commands()
        for record in unfinished:
            log.warning("command %s (%s) was interrupted by a restart: looking it up",
                        record.command_id, record.kind)  # fmt: skip
            command = _decoded(record)
            if command is None:
                self._finish(record.command_id, [self._unknown(record)])
                continue
            if not isinstance(command, SetTradingState):
                await self.sender.wait_terminal(self.resume_wait_s)
            self._finish(record.command_id, await self._execute(command, record.received_at,
                                                                resumed=True))  # fmt: skip
            self.resumed += 1
        return len(unfinished)

    def _unknown(self, record: Unfinished) -> Result:
        comment = (
            f"outcome unknown: the agent stopped while executing this {record.kind}; "
            "check positions before resending"
        )
        return self.sender.rejected(record.command_id, None, comment)

    async def handle(self, command: Command, msg: Msg | None = None) -> None:
        """Handle one decoded command (the safe_handler callback)."""
        seen = self.state.command(command.command_id)
        if seen is not None:
            self.duplicates += 1
            log.info("command %s seen before: not executed again", command.command_id)
            return
        started = self.clock()
        with transaction(self._conn):
            self.state.command_started(command.command_id, type(command).__name__,
                                       encode(command), started)  # fmt: skip
        self._finish(command.command_id, await self._execute(command, started, resumed=False))
        self.executed += 1

    async def _execute(self, command: Command, since_s: float, *, resumed: bool) -> list[Result]:
        sender = self.sender
        match command:
            case ClosePosition():
                return [await sender.close(command.command_id, command.ticket, command.volume,
                                           since_s, resumed=resumed)]  # fmt: skip
            case CloseAll():
                return await self._close_all(command, since_s, resumed=resumed)
            case SetTradingState():
                await self._set_trading_state(command)
                return [self._state_set(command)]
            case PlaceOrder():
                return [await sender.place(command, since_s, resumed=resumed)]
            case ModifyPosition():
                return [await sender.modify(command, resumed=resumed)]
            case _:
                assert_never(command)

    async def _close_all(self, command: CloseAll, since_s: float, *, resumed: bool
                         ) -> list[Result]:  # fmt: skip
        cid, sender = command.command_id, self.sender
        if not await sender.wait_terminal():
            reason = f"terminal unavailable: {self.session.last_error}"
            return [sender.rejected(cid, None, reason)]
        done: list[Result] = []
        try:
            if resumed:  # the positions it closed before the restart answer from their deals
                for found in await sender.lookup.closes(order_comment(cid), since_s):
                    done.append(sender.executed_from(cid, found.position, found))
            filters = {"symbol": command.symbol} if command.symbol else {}
            positions = await sender.positions(**filters)
        except TerminalUnavailable as exc:
            return [*done, sender.rejected(cid, None, f"terminal unavailable: {exc}")]
        if not positions and not done:
            return [
                OrderExecuted(
                    account_id=self.account_id,
                    command_id=cid,
                    ticket=0,
                    retcode=c.TRADE_RETCODE_DONE,
                    comment="no open positions to close",
                    time=self.sender.now(),
                )
            ]
        for p in positions:
            done.append(await sender.close(cid, int(p.ticket), None, since_s, resumed=False))
        return done

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
            time=self.sender.now(),
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


def _decoded(record: Unfinished) -> Command | None:
    if record.body is None:
        return None
    try:
        return _BODY_DECODER.decode(record.body)
    except msgspec.DecodeError:
        log.error("command %s: recorded body unreadable", record.command_id)
        return None
