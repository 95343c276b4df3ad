"""A simulated MetaTrader 5 terminal with the `MetaTrader5` module's calls and semantics."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agents.terminal.mt5 import constants as c
from agents.terminal.mt5.structures import (
    AccountInfo,
    OrderSendResult,
    TerminalInfo,
    Tick,
    TradeDeal,
    TradePosition,
)
from agents.terminal.mt5.symbol_info import SymbolInfo
from agents.terminal.mt5.tick_array import TickArray, tick_array
from agents.terminal.simulator.checked import STALE_MS, order_for
from agents.terminal.simulator.clock import SimClock, WallClock
from agents.terminal.simulator.events import OrderHandled, SimEvent
from agents.terminal.simulator.module_api import ModuleApi, in_group, show
from agents.terminal.simulator.orders import (
    InvalidRequest,
    parse_request,
)
from agents.terminal.simulator.persistence import (
    SNAPSHOT_EVERY_S,
    JournalEntry,
    WorldJournal,
    read_snapshot,
    write_snapshot,
)
from agents.terminal.simulator.settings import SimulatorSettings, settings_from_config
from agents.terminal.simulator.trading import OrderDesk
from agents.terminal.simulator.world import SimWorld

if TYPE_CHECKING:
    from config.models import SimulatorConfig, SymbolConfig

log = logging.getLogger(__name__)

TRADING_STATES = ("ACTIVE", "REDUCING", "HALTED")
_WORLD_CHANGING = frozenset(
    {c.TRADE_RETCODE_DONE, c.TRADE_RETCODE_DONE_PARTIAL, c.TRADE_RETCODE_PLACED}
)
OK: tuple[int, str] = (c.RES_S_OK, "Success")
NO_IPC: tuple[int, str] = (c.RES_E_INTERNAL_FAIL_CONNECT, "No IPC connection")
IPC_TIMEOUT: tuple[int, str] = (c.RES_E_INTERNAL_FAIL_TIMEOUT, "IPC timeout")
NO_REPLY: tuple[int, str] = (c.RES_E_FAIL, "Terminal: Call failed (no reply from trade server)")
VERSION: tuple[int, int, str] = (500, 4755, "1 Jan 2026")


def _to_msc(when: datetime | float | int) -> int:
    if isinstance(when, datetime):
        return int(when.timestamp() * 1000)
    return int(when * 1000)


class SimulatedTerminal(ModuleApi):
    """One simulated terminal and account. Thread-safe; every call first catches the market
    up with the clock (or, in fast mode, `symbol_info_tick` advances one step)."""

    def __init__(
        self,
        settings: SimulatorSettings | None = None,
        clock: SimClock | None = None,
        *,
        journal: WorldJournal | None = None,
        use_snapshot: bool = True,
        snapshot_every_s: float = SNAPSHOT_EVERY_S,
    ):
        """With `journal`, the world starts at its origin (from its latest snapshot when
        `use_snapshot`), replays its recorded calls and catches up with the clock on the
        first call; world-changing calls are then recorded in it."""
        self.settings = settings or SimulatorSettings()
        self.clock: SimClock = clock or WallClock()
        self._lock = threading.RLock()
        self._journal = journal
        self._replay: deque[JournalEntry] = deque()
        self._applied = 0
        snapshot = read_snapshot(journal) if journal is not None and use_snapshot else None
        if snapshot is not None:
            self.world: SimWorld = snapshot.world
            self._applied = snapshot.applied
        else:
            origin = journal.origin_msc if journal else int(self.clock.now() * 1000)
            self.world = SimWorld(self.settings, origin)
        if journal is not None:
            self._replay.extend(journal.entries[self._applied :])
        self._snapshot_steps = max(1, int(snapshot_every_s * 1000 / self.settings.tick_interval_ms))
        self._snapshot_step = self.world.step_count
        self._connected = False
        self._login = self.settings.login
        self._error = OK
        self._desk = OrderDesk(self.world)
        self.caught_up_steps = 0
        """Steps taken by the most recent catch-up with the clock."""

    @classmethod
    def persistent(
        cls,
        settings: SimulatorSettings,
        path: Path,
        clock: SimClock | None = None,
        *,
        use_snapshot: bool = True,
    ) -> SimulatedTerminal:
        """A terminal whose world lives in `path` (a JSON-lines journal) and survives restarts:
        the first start fixes its origin; later starts continue the same timeline."""
        clock = clock or WallClock()
        journal = WorldJournal.open(path, settings, int(clock.now() * 1000))
        return cls(settings, clock, journal=journal, use_snapshot=use_snapshot)

    @classmethod
    def from_config(
        cls,
        sim_config: SimulatorConfig,
        symbols: Iterable[SymbolConfig] = (),
        clock: SimClock | None = None,
        *,
        fast: bool = False,
    ) -> SimulatedTerminal:
        """Build from `config.models.SimulatorConfig` and the account's `SymbolConfig`s."""
        return cls(settings_from_config(sim_config, symbols, fast=fast), clock)

    # --- the simulator's own record and controls -------------------------------------------

    @property
    def history(self) -> tuple[SimEvent, ...]:
        """Everything that happened, oldest first (bounded by `settings.history_limit`)."""
        with self._lock:
            return tuple(self.world.history)

    @property
    def events(self) -> tuple[SimEvent, ...]:
        return self.history

    @property
    def deals(self) -> tuple[TradeDeal, ...]:
        with self._lock:
            return tuple(self.world.book.deals)

    @property
    def now_msc(self) -> int:
        """Simulated time of the latest step."""
        with self._lock:
            return self.world.now_msc

    def sync(self) -> None:
        """Catch the market up with the clock (every API call does this first)."""
        with self._lock:
            self._sync()

    def advance(self, steps: int = 1) -> None:
        """Advance the market by `steps` regardless of the clock."""
        with self._lock:
            for _ in range(steps):
                self.world.step()
                if self._replay:
                    self._replay_due()

    @property
    def trading_state(self) -> str:
        return self.world.trading_state

    def set_trading_state(self, state: str) -> None:
        """The account's risk state (ACTIVE, REDUCING, HALTED); the scripted trader opens
        positions only while ACTIVE. A simulator hook, not part of the MetaTrader5 API."""
        if state not in TRADING_STATES:
            raise ValueError(f"unknown trading state {state!r}; one of {TRADING_STATES}")
        with self._lock:
            self._sync()
            if state == self.world.trading_state:
                return
            self.world.trading_state = state
            self._record("trading_state", {"state": state})

    @property
    def checks_orders(self) -> bool:
        """Whether the scripted trader asks for checks (the agent must then run them)."""
        strategy = self.settings.strategy
        return strategy.kind != "none" and strategy.risk_check and bool(strategy.magic)

    def take_trade_requests(self) -> list[dict[str, Any]]:
        """The opens the scripted trader asked to have checked since the last call (fresh
        ones only). A simulator hook, not part of the MetaTrader5 API."""
        with self._lock:
            self._sync()
            world = self.world
            taken = list(world.trade_requests)
            world.trade_requests.clear()
            return [r.doc() for r in taken if world.utc_msc - r.utc_msc <= STALE_MS]

    def checked_order(self, client_order_id: str) -> dict[str, Any] | None:
        """The `order_send` request carrying out an approved request at the market now
        (None: not a request the trader is waiting for)."""
        with self._lock:
            self._sync()
            world = self.world
            request = world.awaiting.get(client_order_id)
            if request is None:
                return None
            feed = world.feeds[request.symbol]
            spec = world.specs[request.symbol]
            return order_for(request, spec, self.settings.strategy, feed.bid, feed.ask)

    def rollover(self, *, reopen: bool | None = None) -> None:
        """Run a rollover now: one night of swap on every position and, with `reopen`
        (default: `settings.rollover_reopen`), new tickets under the same identifiers."""
        with self._lock:
            self._sync()
            self.world.rollover(None, reopen=reopen)
            self._record("rollover", {"reopen": reopen})

    def set_price(self, symbol: str, bid: float) -> None:
        """Jump `symbol` to `bid` at once; stops and stop-out apply as on any tick."""
        with self._lock:
            self._sync()
            self.world.set_bid(symbol, bid)

    def open_position(
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
    ) -> TradePosition:
        """Trade as someone else on the account would (a manual trade by default): open a
        position (hedging), or deal into the symbol's position (netting); the position after
        it. On a netting account a deal that closes the position raises ValueError (use
        `deal`)."""
        pos = self.deal(symbol, type_, volume, sl=sl, tp=tp, magic=magic, reason=reason,
                        comment=comment)  # fmt: skip
        if pos is None:
            raise ValueError(f"the deal closed the {symbol} position; use deal() for that")
        return pos

    def deal(
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
    ) -> TradePosition | None:
        """A market deal by someone else on the account; the position after it (None: the
        deal closed a netting account's position)."""
        with self._lock:
            self._sync()
            pos, _ = self.world.trade(
                symbol, type_, volume, sl=sl, tp=tp, magic=magic, reason=reason, comment=comment
            )
            return None if pos is None else pos.as_mt5()

    # --- MetaTrader5 module API --------------------------------------------------------------

    def initialize(
        self,
        path: str | None = None,
        *,
        login: int | None = None,
        password: str | None = None,
        server: str | None = None,
        timeout: int | None = None,
        portable: bool = False,
    ) -> bool:
        with self._lock:
            self._sync()
            if self._faulted("disconnect"):
                self._error = (c.RES_E_INTERNAL_FAIL_INIT, "IPC initialize failed")
                return False
            if login is not None:
                self._login = int(login)
            self._connected = True
            self._error = OK
            return True

    def login(
        self,
        login: int,
        password: str | None = None,
        server: str | None = None,
        timeout: int | None = None,
    ) -> bool:
        with self._lock:
            if not self._gate():
                return False
            self._login = int(login)
            return True

    def shutdown(self) -> None:
        with self._lock:
            self._connected = False
            self._error = OK

    def last_error(self) -> tuple[int, str]:
        with self._lock:
            return self._error

    def version(self) -> tuple[int, int, str] | None:
        with self._lock:
            return VERSION if self._gate() else None

    def terminal_info(self) -> TerminalInfo | None:
        with self._lock:
            if not self._gate():
                return None
            faults, elapsed = self.world.faults, self.world.elapsed_s
            return TerminalInfo(
                community_account=False,
                community_connection=False,
                connected=faults.active("trade_server_disconnect", elapsed) is None,
                dlls_allowed=False,
                trade_allowed=faults.active("autotrading_disabled", elapsed) is None,
                tradeapi_disabled=False,
                email_enabled=False,
                ftp_enabled=False,
                notifications_enabled=False,
                mqid=False,
                build=VERSION[1],
                maxbars=100_000,
                codepage=0,
                ping_last=25_000,
                community_balance=0.0,
                retransmission=0.0,
                company=self.settings.company,
                name="MetaTrader 5 (simulated)",
                language="English",
                path="simulator",
                data_path="simulator",
                commondata_path="simulator",
            )

    def account_info(self) -> AccountInfo | None:
        with self._lock:
            if not self._gate():
                return None
            s, book = self.settings, self.world.book
            profit, equity, margin = book.profit, book.equity, book.margin
            drop = self.world.faults.active("equity_drop", self.world.elapsed_s)
            if drop is not None:
                cut = round(equity * drop.drop_percent / 100.0, 2)
                profit, equity = round(profit - cut, 2), round(equity - cut, 2)
            level = round(equity / margin * 100.0, 2) if margin > 0 else 0.0
            return AccountInfo(
                login=self._login,
                trade_mode=c.ACCOUNT_TRADE_MODE_DEMO,
                leverage=s.leverage,
                limit_orders=200,
                margin_so_mode=c.ACCOUNT_STOPOUT_MODE_PERCENT,
                trade_allowed=True,
                trade_expert=True,
                margin_mode=self.world.margin_mode,
                currency_digits=2,
                fifo_close=False,
                balance=book.balance,
                credit=0.0,
                profit=profit,
                equity=equity,
                margin=margin,
                margin_free=round(equity - margin, 2),
                margin_level=level,
                margin_so_call=s.margin_call_level_percent,
                margin_so_so=s.stop_out_level_percent,
                margin_initial=0.0,
                margin_maintenance=0.0,
                assets=0.0,
                liabilities=0.0,
                commission_blocked=0.0,
                name=s.name,
                server=s.server,
                currency=s.currency,
                company=s.company,
            )

    def symbol_info(self, symbol: str) -> SymbolInfo | None:
        with self._lock:
            if not self._gate() or not self._known(symbol):
                return None
            spec, tick = self.world.specs[symbol], self.world.feeds[symbol].tick
            assert tick is not None
            return SymbolInfo(
                time=tick.time,
                digits=spec.digits,
                spread=spec.spread_points,
                bid=tick.bid,
                ask=tick.ask,
                point=spec.point,
                trade_tick_value=spec.tick_value,
                trade_tick_value_profit=spec.tick_value,
                trade_tick_value_loss=spec.tick_value,
                trade_tick_size=spec.tick_size,
                trade_contract_size=spec.contract_size,
                volume_min=spec.volume_min,
                volume_max=spec.volume_max,
                volume_step=spec.volume_step,
                trade_exemode=spec.trade_exemode,
                filling_mode=spec.filling_mode,
                trade_stops_level=spec.stops_level,
                trade_freeze_level=spec.freeze_level,
                swap_mode=c.SYMBOL_SWAP_MODE_POINTS,
                swap_long=spec.swap_long,
                swap_short=spec.swap_short,
                swap_rollover3days=spec.swap_rollover3days,
                currency_base=spec.currency_base,
                currency_profit=spec.currency_profit,
                currency_margin=spec.currency_base,
                select=symbol not in self.world.hidden,
                visible=symbol not in self.world.hidden,
                description=spec.name,
                name=spec.name,
                path=f"Simulated\\{spec.name}",
            )

    def symbol_info_tick(self, symbol: str) -> Tick | None:
        with self._lock:
            if self.settings.fast:
                for _ in range(self.settings.fast_steps):
                    self.world.step()
            if not self._gate() or not self._known(symbol):
                return None
            if symbol in self.world.hidden:
                self._error = (c.RES_E_NOT_FOUND, f"Terminal: Not found ({symbol} is not in "
                               "Market Watch: symbol_select it)")  # fmt: skip
                return None
            return self.world.feeds[symbol].tick

    def copy_ticks_from(
        self, symbol: str, date_from: datetime | float | int, count: int, flags: int
    ) -> TickArray | None:
        """Up to `count` kept ticks from `date_from` on, as the module's numpy structured
        array (`TICK_DTYPE`: time, bid, ask, last, volume, time_msc, flags, volume_real)."""
        with self._lock:
            if not self._gate() or not self._known(symbol):
                return None
            return tick_array(self.world.feeds[symbol].ticks_from(_to_msc(date_from), count))

    def positions_total(self) -> int | None:
        with self._lock:
            return len(self.world.book.positions) if self._gate() else None

    def positions_get(
        self, *, symbol: str | None = None, group: str | None = None, ticket: int | None = None
    ) -> tuple[TradePosition, ...] | None:
        """Keyword-only filters, as the module has them; one applies: symbol, else group, else
        ticket (the module's order)."""
        with self._lock:
            if not self._gate():
                return None
            positions = self.world.book.positions.values()
            if symbol is not None:
                return tuple(p.as_mt5() for p in positions if p.symbol == symbol)
            if group is not None:
                return tuple(p.as_mt5() for p in positions if in_group(p.symbol, group))
            return tuple(p.as_mt5() for p in positions if ticket is None or p.ticket == ticket)

    def history_deals_get(
        self,
        date_from: datetime | float | int | None = None,
        date_to: datetime | float | int | None = None,
        *,
        group: str | None = None,
        ticket: int | None = None,
        position: int | None = None,
    ) -> tuple[TradeDeal, ...] | None:
        with self._lock:
            if not self._gate():
                return None
            deals: Iterable[TradeDeal] = self.world.book.deals
            if ticket is not None:
                deals = [d for d in deals if d.order == ticket]
            elif position is not None:
                deals = [d for d in deals if d.position_id == position]
            else:
                lo = _to_msc(date_from) if date_from is not None else 0
                hi = _to_msc(date_to) if date_to is not None else 2**62
                deals = [d for d in deals if lo <= d.time_msc <= hi and in_group(d.symbol, group)]
            return tuple(deals)

    def order_send(self, request: dict[str, Any]) -> OrderSendResult | None:
        hang_s: float | None = None
        with self._lock:
            result = self._order_send(request)
            recorded = dict(request) if isinstance(request, dict) else {}
            retcode = None if result is None else result.retcode
            if retcode in _WORLD_CHANGING:
                self._record("order", recorded)
                hang_s = self._lost_reply()
            self.world.history.append(OrderHandled(self.world.now_msc, recorded, retcode))
            if hang_s is None:
                return result
        if hang_s:
            time.sleep(hang_s)  # a blocked terminal call, outside the lock as in the module
        return None

    def _lost_reply(self) -> float | None:
        """After an order executed: None to answer it, else the seconds to block before
        answering None (the lost-reply faults; `last_error` is set)."""
        elapsed = self.world.elapsed_s
        if self._faulted("order_send_lost_reply"):
            self._error = NO_REPLY
            return 0.0
        hang = self.world.faults.active("order_send_hang", elapsed)
        if hang is not None and self._faulted("order_send_hang"):
            self._error = IPC_TIMEOUT
            return hang.hang_s
        return None

    # --- internals ---------------------------------------------------------------------------

    def _sync(self) -> None:
        if self.settings.fast:
            return
        world = self.world
        target = (int(self.clock.now() * 1000) - world.origin_msc) // self.settings.tick_interval_ms
        if self._replay:
            self._replay_due()
        if world.step_count >= target:
            return
        start = world.step_count
        while world.step_count < target:
            world.step()
            if self._replay:
                self._replay_due()
        self.caught_up_steps = world.step_count - start
        if self._journal is not None and world.step_count - self._snapshot_step >= (
            self._snapshot_steps
        ):
            self._snapshot()

    def _record(self, kind: str, data: dict[str, Any]) -> None:
        if self._journal is not None:
            self._journal.record(self.world.step_count, kind, data)
            self._applied += 1

    def _replay_due(self) -> None:
        """Apply the journal's calls recorded at or before the current step, in order."""
        world = self.world
        while self._replay and self._replay[0].step <= world.step_count:
            entry = self._replay.popleft()
            self._applied += 1
            if entry.kind == "trading_state":
                world.trading_state = str(entry.data["state"])
            elif entry.kind == "rollover":
                world.rollover(None, reopen=entry.data.get("reopen"))
            elif entry.kind == "symbol_select":
                show(world, str(entry.data["symbol"]), bool(entry.data["enable"]))
            elif entry.kind == "order":
                try:
                    result = self._desk.execute(parse_request(entry.data))
                except InvalidRequest as exc:
                    log.error("journal order at step %d not replayed: %s", entry.step, exc)
                    continue
                world.history.append(OrderHandled(world.now_msc, entry.data, result.retcode))
                if result.retcode not in _WORLD_CHANGING:
                    log.error("journal order at step %d replayed with retcode %d",
                              entry.step, result.retcode)  # fmt: skip

    def _snapshot(self) -> None:
        assert self._journal is not None
        self._snapshot_step = self.world.step_count
        try:
            write_snapshot(self._journal, self.world, self._applied)
        except OSError as exc:
            log.warning("simulator snapshot not written: %r", exc)

    def _faulted(self, kind: str) -> bool:
        faults = self.world.faults
        return bool(faults.faults) and faults.strikes(kind, self.world.elapsed_s)

    def _gate(self) -> bool:
        """Catch up with the clock, then apply connection faults; False when the call fails."""
        self._sync()
        if self._faulted("disconnect"):
            self._connected = False  # the terminal went away: initialize() again afterwards
        if not self._connected:
            self._error = NO_IPC
            return False
        if self._faulted("ipc_error"):
            self._error = NO_IPC
            return False
        if self._faulted("ipc_timeout"):
            self._error = IPC_TIMEOUT
            return False
        self._error = OK
        return True

    def _known(self, symbol: str) -> bool:
        if symbol in self.world.feeds:
            return True
        self._error = (c.RES_E_NOT_FOUND, f"Terminal: Not found ({symbol})")
        return False

    def _order_send(self, request: dict[str, Any]) -> OrderSendResult | None:
        if not self._gate():
            return None
        if self._faulted("order_send_none"):
            self._error = NO_REPLY
            return None
        try:
            req = parse_request(request)
        except InvalidRequest as exc:
            self._error = (c.RES_E_INVALID_PARAMS, str(exc))
            return None
        return self._desk.execute(req)
