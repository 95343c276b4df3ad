"""Simulator settings as plain frozen dataclasses, and their adapter from the config models."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

FaultKind = Literal[
    "disconnect", "ipc_error", "ipc_timeout", "order_send_none", "stale_feed", "equity_drop"
]
FAULT_KINDS: tuple[str, ...] = (
    "disconnect",
    "ipc_error",
    "ipc_timeout",
    "order_send_none",
    "stale_feed",
    "equity_drop",
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
    ),
    SymbolSpec(
        "XAUUSD", 2, 0.01, 100, 1.0, 0.01, 25, 2350.00, 0.0001, 0.01, 50, 0.01, "XAU", "USD"
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


@dataclass(frozen=True)
class FaultSpec:
    """One injected fault, active from `start_s` for `duration_s` seconds of simulated time."""

    kind: FaultKind
    start_s: float
    duration_s: float = 1.0
    symbol: str | None = None
    drop_percent: float = 10.0
    probability: float = 1.0

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
    """Advance one step per `symbol_info_tick` call instead of following the clock."""
    history_limit: int = 200_000
    """How many events `history` keeps (oldest dropped first)."""

    def __post_init__(self) -> None:
        if self.tick_interval_ms <= 0:
            raise ValueError(f"tick_interval_ms must be positive, got {self.tick_interval_ms}")
        if not self.symbols:
            raise ValueError("the simulator needs at least one symbol")
        for fault in self.faults:
            if fault.kind not in FAULT_KINDS:
                raise ValueError(f"unknown fault kind {fault.kind!r}; one of {FAULT_KINDS}")


def _opt(obj: Any, name: str, default: Any) -> Any:
    value = getattr(obj, name, default)
    return default if value is None and default is not None else value


def symbol_from_config(cfg: Any) -> SymbolSpec:
    """Build a SymbolSpec from a `config.models.SymbolConfig` (or anything with its fields)."""
    name = str(cfg.name)
    known = {s.name: s for s in DEFAULT_SYMBOLS}.get(name, SymbolSpec(name))
    kwargs: dict[str, Any] = {}
    for spec_field, cfg_field in (
        ("digits", "digits"),
        ("point", "point"),
        ("contract_size", "contract_size"),
        ("tick_value", "tick_value"),
        ("tick_size", "tick_size"),
        ("spread_points", "spread_points"),
        ("start_price", "start_price"),
        ("volatility", "volatility"),
        ("volume_min", "volume_min"),
        ("volume_max", "volume_max"),
        ("volume_step", "volume_step"),
        ("currency_base", "currency_base"),
        ("currency_profit", "currency_profit"),
    ):
        value = getattr(cfg, cfg_field, None)
        if value is not None:
            kwargs[spec_field] = value
    return SymbolSpec(**{**known.__dict__, **kwargs})


def settings_from_config(
    sim_cfg: Any, symbols: Iterable[Any] = (), *, fast: bool | None = None
) -> SimulatorSettings:
    """Build SimulatorSettings from `config.models.SimulatorConfig` and `SymbolConfig`s."""
    base = SimulatorSettings()
    strat_cfg = getattr(sim_cfg, "strategy", None)
    strategy = StrategySpec()
    if strat_cfg is not None:
        strategy = StrategySpec(
            kind=_opt(strat_cfg, "kind", strategy.kind),
            open_probability=float(_opt(strat_cfg, "open_probability", strategy.open_probability)),
            close_probability=float(
                _opt(strat_cfg, "close_probability", strategy.close_probability)
            ),
            max_positions=int(_opt(strat_cfg, "max_positions", strategy.max_positions)),
            volume_choices=tuple(_opt(strat_cfg, "volume_choices", strategy.volume_choices)),
            sl_pips=getattr(strat_cfg, "sl_pips", strategy.sl_pips),
            tp_pips=getattr(strat_cfg, "tp_pips", strategy.tp_pips),
            magic=int(_opt(strat_cfg, "magic", strategy.magic)),
        )
    faults = tuple(
        FaultSpec(
            kind=f.kind,
            start_s=float(f.start_s),
            duration_s=float(_opt(f, "duration_s", 1.0)),
            symbol=getattr(f, "symbol", None),
            drop_percent=float(_opt(f, "drop_percent", 10.0)),
            probability=float(_opt(f, "probability", 1.0)),
        )
        for f in (getattr(sim_cfg, "faults", None) or ())
    )
    specs = tuple(symbol_from_config(s) for s in symbols) or base.symbols
    return SimulatorSettings(
        seed=int(_opt(sim_cfg, "seed", base.seed)),
        initial_balance=float(_opt(sim_cfg, "initial_balance", base.initial_balance)),
        currency=str(_opt(sim_cfg, "currency", base.currency)),
        leverage=int(_opt(sim_cfg, "leverage", base.leverage)),
        stop_out_level_percent=float(
            _opt(sim_cfg, "stop_out_level_percent", base.stop_out_level_percent)
        ),
        tick_interval_ms=int(_opt(sim_cfg, "tick_interval_ms", base.tick_interval_ms)),
        strategy=strategy,
        faults=faults,
        symbols=specs,
        fast=bool(_opt(sim_cfg, "fast", False)) if fast is None else fast,
    )
