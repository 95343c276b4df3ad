"""Simulator settings as plain frozen dataclasses, and their adapter from the config models."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from config.models import SimulatorConfig, SymbolConfig

FaultKind = Literal[
    "disconnect",
    "ipc_error",
    "ipc_timeout",
    "order_send_none",
    "order_send_lost_reply",
    "order_send_hang",
    "stale_feed",
    "equity_drop",
    "autotrading_disabled",
    "trade_server_disconnect",
]
MarginMode = Literal["hedging", "netting"]
MARGIN_MODES: tuple[str, ...] = ("hedging", "netting")
FAULT_KINDS: tuple[str, ...] = (
    "disconnect",
    "ipc_error",
    "ipc_timeout",
    "order_send_none",
    "order_send_lost_reply",
    "order_send_hang",
    "stale_feed",
    "equity_drop",
    "autotrading_disabled",
    "trade_server_disconnect",
)


@dataclass(frozen=True)
class SymbolSpec:
    """One tradable symbol: quoting, contract and random-walk parameters.

    `volatility` is the standard deviation of one step's relative price change.
    Profit and margin are converted to the account currency through `tick_value`
    (the value of one `tick_size` move for one lot).
    """

    name: str
    digits: int = 5
    point: float = 0.00001
    contract_size: float = 100_000.0
    tick_value: float = 1.0
    tick_size: float = 0.00001
    spread_points: int = 10
    start_price: float = 1.085
    volatility: float = 0.00005
    volume_min: float = 0.01
    volume_max: float = 100.0
    volume_step: float = 0.01
    currency_base: str = "EUR"
    currency_profit: str = "USD"
    filling_mode: int = 3
    """`symbol_info().filling_mode` flags: 1 FOK, 2 IOC (checked under Market/Exchange
    execution; anything else answers TRADE_RETCODE_INVALID_FILL 10030)."""
    trade_exemode: int = 2
    """SYMBOL_TRADE_EXECUTION_*: 0 request, 1 instant (requotes), 2 market, 3 exchange."""
    commission_per_lot: float = 0.0
    """Charged on every deal (entry and exit), in account currency per lot (a cost: >= 0)."""
    swap_long: float = 0.0
    """Overnight swap of a buy position in points per lot (SYMBOL_SWAP_MODE_POINTS)."""
    swap_short: float = 0.0
    swap_rollover3days: int = 3
    """Day of the week (0 Sunday .. 6 Saturday) whose rollover charges triple swap."""
    stops_level: int = 0
    """SYMBOL_TRADE_STOPS_LEVEL: SL/TP (and a pending price) at least this many points from
    the market, else 10016 Invalid stops (10015 Invalid price for a pending price)."""
    freeze_level: int = 0
    """SYMBOL_TRADE_FREEZE_LEVEL: a position whose SL or TP is within this many points of the
    market cannot have them changed (10029 Frozen)."""
    sessions: tuple[tuple[int, int, int], ...] = ()
    """Trading sessions in server time: (weekday 0 Sunday .. 6 Saturday, first minute, end
    minute); none: always open. Orders outside them answer 10018 Market closed
    (`sessions.FOREX_WEEK` is Monday 00:00 to Friday 23:55)."""

    @property
    def pip(self) -> float:
        """10 points for 5- and 3-digit quotes, else one point."""
        return self.point * 10 if self.digits in (3, 5) else self.point

    @property
    def quote_to_account(self) -> float:
        """Factor converting an amount in the quote currency into the account currency."""
        return self.tick_value / (self.tick_size * self.contract_size)


DEFAULT_SYMBOLS: tuple[SymbolSpec, ...] = (
    SymbolSpec(
        "EURUSD",
        5,
        0.00001,
        100_000,
        1.0,
        0.00001,
        10,
        1.08500,
        0.00005,
        0.01,
        100,
        0.01,
        "EUR",
        "USD",
        filling_mode=1,  # FOK only
        commission_per_lot=3.5,
        swap_long=-7.2,
        swap_short=2.1,
    ),
    SymbolSpec(
        "GBPUSD",
        5,
        0.00001,
        100_000,
        1.0,
        0.00001,
        14,
        1.27000,
        0.00006,
        0.01,
        100,
        0.01,
        "GBP",
        "USD",
        filling_mode=2,  # IOC only
        commission_per_lot=3.5,
        swap_long=-4.5,
        swap_short=-1.3,
    ),
    SymbolSpec(
        "USDJPY",
        3,
        0.001,
        100_000,
        0.6667,
        0.001,
        12,
        150.000,
        0.00005,
        0.01,
        100,
        0.01,
        "USD",
        "JPY",
        filling_mode=3,  # FOK and IOC
        commission_per_lot=3.5,
        swap_long=12.4,
        swap_short=-24.8,
    ),
    SymbolSpec(
        "XAUUSD",
        2,
        0.01,
        100,
        1.0,
        0.01,
        25,
        2350.00,
        0.0001,
        0.01,
        50,
        0.01,
        "XAU",
        "USD",
        filling_mode=2,
        trade_exemode=1,  # instant execution: requotes when the price moved
        swap_long=-45.0,
        swap_short=20.0,
    ),
)


@dataclass(frozen=True)
class StrategySpec:
    """A scripted trader on the account: opens and closes positions at random."""

    kind: Literal["none", "random"] = "none"
    open_probability: float = 0.01
    close_probability: float = 0.005
    max_positions: int = 5
    volume_choices: tuple[float, ...] = (0.01, 0.1, 0.5, 1.0)
    sl_pips: float | None = 30.0
    tp_pips: float | None = 60.0
    magic: int = 0
    risk_check: bool = False
    """Trade like an integrated strategy: the agent asks `mtq.risk.check` before each open of
    its own (magic) and sends only what is approved (see `strategy.FATES`)."""
    fate_weights: tuple[float, ...] = (0.45, 0.2, 0.1, 0.1, 0.05, 0.1)
    """Weights of checked, manual, slip, volume, sl, unfilled (with `risk_check`)."""
    slip_pips: float = 8.0
    """How far a slipped fill lands from the checked price."""
    divergent_sl_pips: float = 20.0
    """How much further out an "sl" fate's stop loss is sent than it was checked."""


@dataclass(frozen=True)
class FaultSpec:
    """One injected fault, active from `start_s` for `duration_s` seconds of simulated time.

    - disconnect: the terminal is unreachable; every call returns None with -10004 and
      `initialize()` fails with -10003; afterwards the session must be initialized again.
    - ipc_error / ipc_timeout: calls fail with -10004 / -10005 (each with `probability`);
      transient, no re-initialize needed.
    - order_send_none: `order_send` returns None (RES_E_FAIL) and executes nothing.
    - order_send_lost_reply: `order_send` executes (position, deal, pending order: all
      there), then returns None with the same RES_E_FAIL, as a real terminal does when the
      trade server's answer is lost; the caller cannot tell it from order_send_none.
    - order_send_hang: `order_send` executes, then blocks the calling thread for `hang_s`
      wall-clock seconds before returning None (-10005 IPC timeout): a process killed in
      that window dies between the order and its answer.
    - stale_feed: no new ticks for `symbol` (all symbols when None); orders on it are
      refused with TRADE_RETCODE_MARKET_CLOSED.
    - autotrading_disabled: the terminal's AutoTrading button is off: `terminal_info()
      .trade_allowed` is False and every order answers 10027 (TRADE_RETCODE_CLIENT_DISABLES_AT).
    - trade_server_disconnect: the terminal runs but lost its trade server: `terminal_info()
      .connected` is False and every order answers 10031 (TRADE_RETCODE_CONNECTION).
    - equity_drop: `account_info()` reports equity (and profit) `drop_percent` lower, a bad
      reading; balance, positions and stop-out are unaffected.
    """

    kind: FaultKind
    start_s: float
    duration_s: float = 1.0
    symbol: str | None = None
    drop_percent: float = 10.0
    probability: float = 1.0
    hang_s: float = 30.0

    def active(self, elapsed_s: float) -> bool:
        return self.start_s <= elapsed_s < self.start_s + self.duration_s


@dataclass(frozen=True)
class SimulatorSettings:
    seed: int = 0
    initial_balance: float = 10_000.0
    currency: str = "USD"
    leverage: int = 100
    stop_out_level_percent: float = 50.0
    margin_call_level_percent: float = 100.0
    tick_interval_ms: int = 100
    strategy: StrategySpec = field(default_factory=StrategySpec)
    faults: tuple[FaultSpec, ...] = ()
    symbols: tuple[SymbolSpec, ...] = DEFAULT_SYMBOLS
    login: int = 10_000_001
    server: str = "MTQ-Simulator"
    company: str = "mtq simulated broker"
    name: str = "Simulated Trader"
    fast: bool = False
    """Advance `fast_steps` steps per `symbol_info_tick` call instead of following the clock."""
    fast_steps: int = 1
    """Steps per call in fast mode: more than one is a market busier than the poll rate, whose
    ticks an agent fetches with `copy_ticks_from`."""
    history_limit: int = 200_000
    """How many events `history` keeps (oldest dropped first)."""
    server_timezone: str = "UTC"
    """IANA zone of the broker's server clock: every MT5 time the simulator gives (ticks,
    positions, deals) is in it, as on a real server."""
    server_shift_h: float = 0.0
    """Hours added to `server_timezone`: ("America/New_York", 7) is the usual "New York close"
    server, UTC+2 in winter and UTC+3 from the US DST change on."""
    rollover_reopen: bool = False
    """At the daily rollover, re-open every position under a new ticket (same identifier), as
    brokers that charge swap by re-opening do."""
    hidden_symbols: tuple[str, ...] = ()
    """Symbols not in Market Watch at start: `symbol_info_tick` fails and orders answer 10013
    until `symbol_select(symbol, True)`."""
    margin_mode: MarginMode = "hedging"
    """"hedging" (ACCOUNT_MARGIN_MODE_RETAIL_HEDGING: any number of positions per symbol,
    closed by ticket) or "netting" (ACCOUNT_MARGIN_MODE_RETAIL_NETTING: one position per
    symbol; a deal adds to it, reduces it, closes it or reverses it with DEAL_ENTRY_INOUT)."""

    def __post_init__(self) -> None:
        if self.margin_mode not in MARGIN_MODES:
            raise ValueError(f"unknown margin mode {self.margin_mode!r}; one of {MARGIN_MODES}")
        if self.tick_interval_ms <= 0:
            raise ValueError(f"tick_interval_ms must be positive, got {self.tick_interval_ms}")
        if not self.symbols:
            raise ValueError("the simulator needs at least one symbol")
        for fault in self.faults:
            if fault.kind not in FAULT_KINDS:
                raise ValueError(f"unknown fault kind {fault.kind!r}; one of {FAULT_KINDS}")


def symbol_from_config(cfg: SymbolConfig) -> SymbolSpec:
    """Build a SymbolSpec from a SymbolConfig (start price and currencies default by name)."""
    known = {s.name: s for s in DEFAULT_SYMBOLS}.get(cfg.name)
    base = known or SymbolSpec(cfg.name, currency_base=cfg.name[:3], currency_profit=cfg.name[3:6])
    return replace(
        base,
        digits=cfg.digits,
        point=cfg.point,
        contract_size=cfg.contract_size,
        tick_value=cfg.tick_value,
        tick_size=cfg.tick_size,
        spread_points=cfg.spread_points,
        start_price=cfg.start_price or base.start_price,
        volatility=cfg.volatility,
    )


def settings_from_config(
    sim: SimulatorConfig, symbols: Iterable[SymbolConfig] = (), *, fast: bool = False
) -> SimulatorSettings:
    """Build SimulatorSettings from the account's SimulatorConfig and SymbolConfigs."""
    strat = sim.strategy
    strategy = StrategySpec(
        kind=strat.kind,
        open_probability=strat.open_probability,
        close_probability=strat.close_probability,
        max_positions=strat.max_positions,
        volume_choices=tuple(strat.volume_choices) or StrategySpec.volume_choices,
        sl_pips=strat.sl_pips,
        tp_pips=strat.tp_pips,
        magic=strat.magic,
        risk_check=strat.risk_check,
    )
    faults = tuple(
        FaultSpec(
            kind=f.kind,
            start_s=f.start_s,
            duration_s=f.duration_s,
            symbol=f.symbol,
            drop_percent=f.drop_percent,
            probability=f.probability,
            hang_s=f.hang_s,
        )
        for f in sim.faults
    )
    specs = tuple(symbol_from_config(s) for s in symbols) or DEFAULT_SYMBOLS
    return SimulatorSettings(
        seed=sim.seed,
        initial_balance=sim.initial_balance,
        currency=sim.currency,
        leverage=sim.leverage,
        stop_out_level_percent=sim.stop_out_level_percent,
        tick_interval_ms=sim.tick_interval_ms,
        strategy=strategy,
        faults=faults,
        symbols=specs,
        fast=fast,
        margin_mode=sim.margin_mode,
    )
