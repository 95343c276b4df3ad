"""The MT5 agent: polls a terminal, publishes facts, runs commands (docs/architecture.md §6)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from nats.aio.client import Client

from agents.backoff import Backoff
from agents.breaker import CircuitBreaker
from agents.checked_trader import CheckedTrader, checks_orders
from agents.command_executor import CommandExecutor
from agents.commands_consumer import consume_commands
from agents.facts import (
    account_snapshot,
    close_from_deals,
    closed_fact,
    modified_fact,
    opened_fact,
    snapshot_values,
)
from agents.heartbeat import HealthReport, HeartbeatMaker
from agents.nats_link import NatsLink
from agents.outbox import PRIORITY_ACCOUNT, PRIORITY_TICK, Outbox, OutgoingFact, StoredFact
from agents.position_diff import PositionRecord, diff_positions, record_from_terminal
from agents.publisher import FactPublisher
from agents.reset_balance import WINDOW as RESET_WINDOW
from agents.reset_balance import balance_at, last_reset
from agents.server_clock import ServerClock
from agents.session import TerminalSession, TerminalUnavailable
from agents.state import AgentState
from agents.store import db_path, open_store, transaction
from agents.terminal import AsyncTerminal, make_terminal
from agents.terminal.factory import simulator_world_path
from agents.terminal.mt5 import constants as c
from agents.terminal.mt5.structures import Tick
from agents.terminal.mt5.tick_array import as_ticks
from agents.ticks import SymbolCursor
from bus import subjects
from bus.codec import encode
from bus.schemas import TickReceived
from bus.schemas.base import from_msc
from config.models import AccountConfig

log = logging.getLogger(__name__)

MAX_QUEUED = 2_000
"""Facts waiting in memory for the publisher beyond which polling pauses..."""
MAX_PAUSE_S = 1.0
"""...for at most this long per round (positions are still polled if NATS stays stuck)."""
CLOSE_DEAL_ATTEMPTS = 10
"""Polls to wait for a vanished position's closing deal before publishing without it."""
FRESH_POLL_S = 2.0
"""A new tick counts as fresh (for measuring the server's UTC offset) when the symbol was
also polled at most this long before (so the tick arrived since)."""


@dataclass(frozen=True)
class AgentTuning:
    """Overrides for tests and benchmarks; None keeps the account's `agent` config."""

    poll_interval_s: float | None = None
    heartbeat_interval_s: float | None = None
    ack_timeout_s: float = 3.0
    provision: bool = True
    consume_commands: bool = True
    state_poll_interval_s: float = 0.0
    """Poll positions and account at most this often (0: every round, the default)."""


class Agent:
    """One account's agent; `run(stop)` until stop is set, then flush and close."""

    def __init__(
        self,
        account: AccountConfig,
        *,
        session: TerminalSession,
        link: NatsLink,
        conn: sqlite3.Connection,
        publisher: FactPublisher,
        executor: CommandExecutor,
        tuning: AgentTuning | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Wired by `build_agent`; `clock` is the agent's UTC clock (seconds since the epoch)."""
        cfg = account.agent
        self.tuning = tuning or AgentTuning()
        self.account = account
        self.account_id = account.id
        self.symbols = account.symbol_names
        self.poll_interval_s = self.tuning.poll_interval_s
        if self.poll_interval_s is None:
            self.poll_interval_s = cfg.poll_interval_ms / 1000.0
        self.heartbeat_interval_s = self.tuning.heartbeat_interval_s or cfg.heartbeat_interval_s
        self.snapshot_interval_s = cfg.account_snapshot_interval_s
        self.stale_feed_s = cfg.stale_feed_seconds
        self.conn = conn
        self.state = AgentState(conn)
        self.publisher = publisher
        self.outbox = publisher.outbox
        self.link = link
        self.session = session
        self.executor = executor
        self.clock = clock
        self.server_clock = ServerClock(clock)
        executor.sender.server_offset_s = lambda: self.server_clock.offset_s
        executor.use_clock(clock)
        self._rebuilt_reset: datetime | None = None
        self._reconnects_seen = 0
        self.known: dict[int, PositionRecord] = self.state.positions()
        """Open positions by identifier."""
        self._close_attempts: dict[int, int] = {}
        self.cursors = {s: SymbolCursor() for s in self.symbols}
        self._polled_at: dict[str, float] = {}
        self._tick_subjects = {s: subjects.tick(account.id, s) for s in self.symbols}
        self.last_tick_at: dict[str, float] = {}
        self._started = clock()
        self._last_snapshot: tuple[float, ...] | None = None
        self._last_snapshot_at = 0.0
        self._snapshot_ms = 0
        self._stale_warned: set[str] = set()
        self.heartbeats = HeartbeatMaker(account.id, int(self._started * 1000), clock=clock)
        self.polls = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._killed = False
        self._state_polled_at = 0.0

    # --- lifecycle ---------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        log.info("agent %s starting (%d positions recorded)", self.account_id, len(self.known))
        tasks = [
            asyncio.create_task(self.link.run(stop), name="nats-link"),
            asyncio.create_task(self.publisher.run(stop), name="publisher"),
            asyncio.create_task(self._poll_loop(stop), name="poll"),
            asyncio.create_task(self._heartbeat_loop(stop), name="heartbeat"),
        ]
        tasks.append(asyncio.create_task(self._commands(stop), name="commands"))
        if checks_orders(self.session):
            trader = CheckedTrader(self.account_id, self.session, self.link)
            tasks.append(asyncio.create_task(trader.run(stop), name="checked-trader"))
        self._tasks = tasks
        try:
            await stop.wait()
        finally:
            if self._killed:
                self.conn.close()
                return  # noqa: B012 - a simulated crash leaves nothing tidy behind
            stop.set()
            done, pending = await asyncio.wait(tasks, timeout=4.0)
            for task in pending:
                task.cancel()
            for task in done:
                if not task.cancelled() and task.exception() is not None:
                    log.error("agent task %s failed: %r", task.get_name(), task.exception())
            await self._close()

    async def _commands(self, stop: asyncio.Event) -> None:
        """Resume what a crash interrupted (looked up on the terminal), then take commands."""
        try:
            await self.executor.resume_interrupted()
        except Exception:
            log.exception("resuming interrupted commands failed; they stay unanswered")
        if self.tuning.consume_commands:
            await consume_commands(self.link, self.account_id, self.executor.handle, stop)

    def kill(self, stop: asyncio.Event) -> None:
        """Stop at once without flushing or closing anything (a crash, for tests)."""
        self._killed = True
        for task in self._tasks:
            task.cancel()
        stop.set()

    async def _close(self) -> None:
        with contextlib.suppress(Exception):
            await self._publish_heartbeat()
        await self.session.close()
        await self.link.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.session.terminal.close(shutdown_terminal=False), timeout=2)
        self.conn.close()
        log.info("agent %s stopped (%d facts left in the outbox)", self.account_id,
                 len(self.outbox))  # fmt: skip

    # --- polling -----------------------------------------------------------------------

    async def _poll_loop(self, stop: asyncio.Event) -> None:
        assert self.poll_interval_s is not None
        while not stop.is_set():
            started = time.monotonic()
            try:
                if await self.session.ensure_connected():
                    await self.poll_once()
            except TerminalUnavailable:
                pass
            except Exception:
                log.exception("poll failed; continuing")
            paused = time.monotonic()
            while (  # noqa: ASYNC110
                self.publisher.queued > MAX_QUEUED
                and time.monotonic() - paused < MAX_PAUSE_S
                and not stop.is_set()
            ):
                # Backpressure: poll later; copy_ticks_from fills the gap, nothing is lost.
                await asyncio.sleep(0.005)
            wait = self.poll_interval_s - (time.monotonic() - started)
            if wait > 0:
                await _wait(stop, wait)
            else:
                await asyncio.sleep(0)

    async def poll_once(self) -> None:
        """One round: ticks of every symbol, positions, account."""
        self.polls += 1
        if self.session.reconnects != self._reconnects_seen:
            self._reconnects_seen = self.session.reconnects
            self.server_clock.expire()  # the terminal may have come back on another server
            await self._select_symbols()
        for symbol in self.symbols:
            await self._poll_symbol(symbol)
        now = time.monotonic()
        if now - self._state_polled_at >= self.tuning.state_poll_interval_s:
            self._state_polled_at = now
            await self._poll_positions()
            await self._poll_account()

    async def _select_symbols(self) -> None:
        """Put the account's symbols in Market Watch (a terminal quotes only those)."""
        for symbol in self.symbols:
            try:
                await self.session.call("symbol_select", symbol, True)
            except TerminalUnavailable as exc:
                log.warning("symbol_select(%s) failed: %s", symbol, exc)

    async def _poll_symbol(self, symbol: str) -> None:
        tick: Tick | None = await self.session.call("symbol_info_tick", symbol)
        now = time.monotonic()
        previous_poll = self._polled_at.get(symbol)
        self._polled_at[symbol] = now
        cursor = self.cursors[symbol]
        if tick is None or not cursor.is_new(tick):
            self._check_stale(symbol)
            return
        clock = self.server_clock
        if clock.due():
            recent = previous_poll is not None and now - previous_poll <= FRESH_POLL_S
            clock.observe(tick.time_msc, fresh=cursor.last_msc >= 0 and recent)
        ticks: Sequence[Tick] = (tick,)
        if cursor.may_have_skipped(tick.time_msc, self.poll_interval_ms):
            rows = await self.session.call(
                "copy_ticks_from", symbol, cursor.last_msc / 1000.0, 10_000, c.COPY_TICKS_ALL
            )
            history = as_ticks(rows) if rows is not None else ()
            if history:
                ticks = history
        self._submit_ticks(symbol, cursor.take(ticks))

    def _submit_ticks(self, symbol: str, ticks: Sequence[tuple[Tick, int]]) -> None:
        if not ticks:
            return
        observed = self.clock()
        subject = self._tick_subjects[symbol]
        prefix = f"{self.account_id}:tick:{symbol}:"
        account_id = self.account_id
        offset = self.server_clock.offset_ms or 0
        facts = []
        for t, seq in ticks:
            fact = TickReceived(
                account_id=account_id,
                symbol=symbol,
                bid=float(t.bid),
                ask=float(t.ask),
                last=float(t.last),
                volume=float(t.volume),
                time_msc=t.time_msc - offset,
                flags=int(t.flags),
                server_time_msc=t.time_msc,
            )
            # The id keeps the raw server time: a re-measured offset must not make a new id.
            msg_id = f"{prefix}{t.time_msc}:{seq}"
            facts.append(OutgoingFact(subject, msg_id, encode(fact), PRIORITY_TICK, observed))
        self.last_tick_at[symbol] = time.monotonic()
        self._stale_warned.discard(symbol)
        self.publisher.submit_many(facts)

    @property
    def poll_interval_ms(self) -> float:
        assert self.poll_interval_s is not None
        return max(self.poll_interval_s * 1000.0, 1.0)

    def _check_stale(self, symbol: str) -> None:
        seen = self.last_tick_at.get(symbol)
        if seen is None or symbol in self._stale_warned:
            return
        if time.monotonic() - seen > self.stale_feed_s:
            self._stale_warned.add(symbol)
            log.warning("no new tick for %s in %.0f s", symbol, self.stale_feed_s)

    async def _poll_positions(self) -> None:
        raw = await self.session.call("positions_get")
        current = [record_from_terminal(p) for p in raw or ()]
        changes = diff_positions(self.known, current)
        clock, account_id = self.server_clock, self.account_id
        facts: list[OutgoingFact] = []
        closed: list[int] = []
        for record in changes.opened:
            msg_id, fact = opened_fact(account_id, record, clock)
            facts.append(self._fact("opened", msg_id, fact))
        for record, changed in changes.modified:
            msg_id, modified = modified_fact(account_id, record, changed, clock)
            facts.append(self._fact("modified", msg_id, modified))
        for record in changes.closed:
            deals = await self.session.call("history_deals_get", position=record.identifier)
            deal = close_from_deals(deals)
            attempts = self._close_attempts.get(record.identifier, 0) + 1
            if deal is None and attempts < CLOSE_DEAL_ATTEMPTS:
                self._close_attempts[record.identifier] = attempts
                continue
            if deal is None:
                log.warning("no closing deal for position %d; publishing its close without it",
                            record.identifier)  # fmt: skip
            now_msc = int(self.clock() * 1000)
            msg_id, closed_msg = closed_fact(account_id, record, deal, now_msc, clock)
            facts.append(self._fact("closed", msg_id, closed_msg))
            closed.append(record.identifier)
        if facts:
            self._store_position_facts(facts, changes.opened + [r for r, _ in changes.modified],
                                       closed)  # fmt: skip
        for identifier in closed:
            self._close_attempts.pop(identifier, None)
            self.known.pop(identifier, None)
        for record in current:
            self.known[record.identifier] = record

    def _store_position_facts(
        self, facts: list[OutgoingFact], changed: list[PositionRecord], closed: list[int]
    ) -> None:
        """Facts into the outbox in the same transaction as the state that caused them."""
        try:
            with transaction(self.conn):
                self.outbox.append(facts)
                self.state.save_positions(changed)
                self.state.forget_positions(closed)
        except BaseException:
            self.outbox.recount()
            raise
        self.publisher.wake()

    def _fact(self, kind: str, msg_id: str, message: Any) -> OutgoingFact:
        return OutgoingFact(subjects.position(self.account_id, kind), msg_id, encode(message))

    async def _poll_account(self) -> None:
        info = await self.session.call("account_info")
        if info is None:
            return
        values = snapshot_values(info)
        now = self.clock()
        due = now - self._last_snapshot_at >= self.snapshot_interval_s
        reset = await self._rebuild_reset(values[0], now)
        if values == self._last_snapshot and not due and reset is None:
            return
        time_ms = max(int(now * 1000), self._snapshot_ms + 1)
        self._snapshot_ms = time_ms
        msg_id, snapshot = account_snapshot(self.account_id, info, values, time_ms, reset)
        self._last_snapshot, self._last_snapshot_at = values, now
        subject = subjects.account_snapshot(self.account_id)
        self.publisher.submit(OutgoingFact(subject, msg_id, encode(snapshot), PRIORITY_ACCOUNT))

    async def _rebuild_reset(self, balance: float, now: float) -> tuple[datetime, float] | None:
        """The day's reset instant and the balance then, once per trading day (None: not now).

        Needs the server's UTC offset to place deals in time; until a tick gave it, or while
        the history cannot be read, it tries again at the next poll.
        """
        daily = self.account.risk.daily_loss
        start = last_reset(from_msc(int(now * 1000)), daily.reset_time, daily.timezone)
        if start == self._rebuilt_reset or self.server_clock.offset_ms is None:
            return None
        try:
            deals = await self.session.call(
                "history_deals_get", start - RESET_WINDOW, from_msc(int(now * 1000)) + RESET_WINDOW
            )
        except Exception as exc:  # noqa: BLE001 - no rebuild this poll: the engine estimates
            log.info("%s: deal history for the daily reset not read: %s", self.account_id, exc)
            return None
        self._rebuilt_reset = start
        since = int(start.timestamp() * 1000)
        return start, balance_at(balance, deals or (), since, self.server_clock.to_utc)

    def outbox_drained_after(self, buffered: int) -> bool:
        """True once the outbox is empty and at least `buffered` facts left it."""
        return not len(self.outbox) and self.publisher.stats.from_outbox >= buffered

    # --- heartbeats --------------------------------------------------------------------

    def health(self) -> HealthReport:
        now = time.monotonic()
        publish_error = self.publisher.last_error if self.publisher.pending else ""
        errors = [e for e in (self.session.last_error, self.link.last_error, publish_error) if e]
        if self.outbox.full:
            errors.insert(0, f"outbox full ({self.outbox.max_messages}); ticks evicted first")
        return HealthReport(
            terminal_connected=self.session.connected,
            breaker_state=self.session.breaker_state,
            terminal_latency_ms=self.session.latency_ms,
            last_tick_age_s={s: now - t for s, t in self.last_tick_at.items()},
            events_buffered=self.publisher.pending,
            outbox_full=self.outbox.full,
            outbox_dropped=self.outbox.dropped,
            last_error="; ".join(errors),
            server_utc_offset_s=self.server_clock.offset_s,
        )

    async def _heartbeat_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self._publish_heartbeat()
            except Exception as exc:  # noqa: BLE001 - a lost heartbeat is not worth a crash
                log.debug("heartbeat not published: %r", exc)
            await _wait(stop, self.heartbeat_interval_s)

    async def _publish_heartbeat(self) -> None:
        """Heartbeats are live signals: sent when NATS is up, never buffered."""
        if not self.link.connected or self.link.js is None:
            return
        msg_id, payload = self.heartbeats.next(self.health())
        await self.link.js.publish(
            self.heartbeats.subject, payload, timeout=2.0, headers={"Nats-Msg-Id": msg_id}
        )


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    """Sleep `seconds` or until `stop` is set (no task per call, unlike wait_for)."""
    if seconds <= 0.25:  # short: a plain sleep is cheapest; `stop` is seen right after
        await asyncio.sleep(seconds)
        return
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await stop.wait()


def build_agent(
    account: AccountConfig,
    *,
    terminal: AsyncTerminal,
    nats_url: str,
    data_dir: Path,
    nc: Client | None = None,
    password: str | None = None,
    tuning: AgentTuning | None = None,
    on_published: Callable[[Sequence[OutgoingFact | StoredFact], float], None] | None = None,
    clock: Callable[[], float] = time.time,
) -> Agent:
    """Wire one account's agent: store, NATS link, publisher, terminal session, executor.

    The one wiring shared by `mtq agent run` (`run_agent`), the test harness and the
    benchmarks; unit tests pass a terminal of their own and never run the link.
    """
    cfg = account.agent
    tuning = tuning or AgentTuning()
    conn = open_store(db_path(data_dir, account.id))
    link = NatsLink(
        nats_url,
        name=f"mtq-agent-{account.id}-{os.getpid()}",
        client=nc,
        provision=tuning.provision,
    )
    publisher = FactPublisher(
        link,
        Outbox(conn, cfg.outbox.max_messages),
        ack_timeout=tuning.ack_timeout_s,
        on_published=on_published,
    )
    rc = cfg.reconnect
    session = TerminalSession(
        terminal,
        breaker=CircuitBreaker(
            cfg.breaker.failure_threshold,
            cfg.breaker.recovery_seconds,
            cfg.breaker.half_open_max_calls,
        ),
        backoff=Backoff(rc.initial_delay_s, rc.max_delay_s, rc.factor, rc.jitter),
        login=account.login,
        password=password,
        server=account.server,
        path=account.terminal.path,
        timeout_ms=account.terminal.timeout_ms,
        slow_ms=cfg.slow_terminal_ms,
    )
    executor = CommandExecutor(
        account.id,
        session,
        conn,
        AgentState(conn),
        publisher.outbox,
        retries=cfg.order_retries,
        wake=publisher.wake,
    )
    return Agent(
        account,
        session=session,
        link=link,
        conn=conn,
        publisher=publisher,
        executor=executor,
        tuning=tuning,
        clock=clock,
    )


async def run_agent(
    account: AccountConfig,
    *,
    nats_url: str,
    data_dir: Path,
    stop: asyncio.Event,
    terminal: AsyncTerminal | None = None,
    nc: Client | None = None,
    environ: Mapping[str, str] | None = None,
    tuning: AgentTuning | None = None,
    on_published: Callable[[Sequence[OutgoingFact | StoredFact], float], None] | None = None,
) -> None:
    """Run one account's agent until `stop` is set.

    `terminal` defaults to `AsyncTerminal(make_terminal(...))` from the account's config; `nc`
    is a shared NATS client (default: the agent connects to `nats_url` itself, retrying while
    it is unreachable and buffering facts meanwhile).
    """
    password = account.resolve_password(environ) if account.password_env else None
    if terminal is None:
        terminal = AsyncTerminal(
            make_terminal(
                account.terminal,
                account.symbols,
                world_path=simulator_world_path(data_dir, account.id),
            ),
            thread_name=f"mt5-{account.id}",
        )
    agent = build_agent(
        account,
        terminal=terminal,
        nats_url=nats_url,
        data_dir=data_dir,
        nc=nc,
        password=password,
        tuning=tuning,
        on_published=on_published,
    )
    await agent.run(stop)
