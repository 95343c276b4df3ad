"""The real adapter and the factory: clear failure off Windows, faithful delegation."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from agents.terminal import (
    ManualClock,
    RealTerminal,
    SimulatedTerminal,
    TerminalPort,
    TerminalUnavailable,
    make_terminal,
)
from agents.terminal.mt5.tick_array import as_ticks
from agents.terminal.simulator import SimulatorSettings, mt5sim
from config.models import (
    FaultConfig,
    SimulatorConfig,
    SimulatorStrategyConfig,
    SymbolConfig,
    TerminalConfig,
)

LINUX_MESSAGE = (
    "the real MetaTrader5 terminal needs Windows and the 'mt5' extra (pip install mtq[mt5]); "
    "this machine is linux — use terminal kind 'simulator'"
)


def test_real_terminal_when_chosen_on_linux_then_fails_at_start_with_clear_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "platform", "linux")
    with pytest.raises(TerminalUnavailable) as direct:
        RealTerminal()
    assert str(direct.value) == LINUX_MESSAGE
    with pytest.raises(TerminalUnavailable) as via_factory:
        make_terminal(TerminalConfig(kind="real"), ())
    assert str(via_factory.value) == LINUX_MESSAGE


def test_factory_when_simulator_kind_then_builds_simulator_from_config_models() -> None:
    config = TerminalConfig(
        kind="simulator",
        simulator=SimulatorConfig(
            seed=7,
            initial_balance=50_000.0,
            leverage=30,
            tick_interval_ms=250,
            strategy=SimulatorStrategyConfig(kind="none"),
            faults=(FaultConfig(kind="ipc_timeout", start_s=10.0, duration_s=1.0),),
        ),
    )
    symbols = (
        SymbolConfig(name="EURUSD", start_price=1.2),
        SymbolConfig(
            name="XAUUSD", digits=2, contract_size=100, spread_points=30, start_price=2000.0
        ),
    )
    clock = ManualClock()
    terminal = make_terminal(config, symbols, clock)
    assert isinstance(terminal, SimulatedTerminal)
    assert terminal.initialize(login=123456)
    account = terminal.account_info()
    assert account is not None
    assert (account.login, account.balance, account.leverage) == (123456, 50_000.0, 30)
    gold = terminal.symbol_info("XAUUSD")
    assert gold is not None
    assert (gold.digits, gold.point, gold.trade_contract_size, gold.spread) == (2, 0.01, 100, 30)
    assert gold.bid == 2000.0
    assert terminal.symbol_info("GBPUSD") is None  # only the configured symbols
    clock.advance(10.5)
    assert terminal.account_info() is None
    assert terminal.last_error()[0] == -10005
    assert terminal.settings.tick_interval_ms == 250


def snapshot(terminal: TerminalPort) -> list[Any]:
    """What an agent does, written once against the port."""
    assert terminal.initialize(login=5)
    opened = terminal.order_send(
        {"action": 1, "symbol": "EURUSD", "volume": 0.1, "type": 0, "magic": 1}
    )
    assert opened is not None
    return [
        terminal.account_info(),
        terminal.symbol_info("EURUSD"),
        terminal.symbol_info_tick("EURUSD"),
        terminal.positions_get(ticket=opened.order),
        terminal.history_deals_get(position=opened.order),
        terminal.history_deals_get(0, 2**31),
        as_ticks(terminal.copy_ticks_from("EURUSD", 0, 10, mt5sim.COPY_TICKS_ALL) or ()),
        terminal.terminal_info(),
        opened,
        terminal.last_error(),
    ]


def test_real_terminal_when_given_a_metatrader5_shaped_module_then_same_results_as_direct() -> None:
    direct = SimulatedTerminal(SimulatorSettings(seed=9), ManualClock())
    mt5sim.use(SimulatedTerminal(SimulatorSettings(seed=9), ManualClock()))
    try:
        via_module = RealTerminal(module=mt5sim)
        assert snapshot(via_module) == snapshot(direct)
        assert via_module.positions_get(symbol="GBPUSD") == ()
        via_module.shutdown()
        assert via_module.account_info() is None
        assert via_module.last_error() == (-10004, "No IPC connection")
    finally:
        mt5sim.use(None)
