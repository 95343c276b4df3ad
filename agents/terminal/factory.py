"""Choose and build the terminal adapter an account's config asks for."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from agents.terminal.port import TerminalPort
from agents.terminal.real import RealTerminal
from agents.terminal.simulator.clock import SimClock
from agents.terminal.simulator.terminal import SimulatedTerminal

if TYPE_CHECKING:
    from config.models import SymbolConfig, TerminalConfig


def make_terminal(
    terminal_config: TerminalConfig,
    symbols: Iterable[SymbolConfig] = (),
    clock: SimClock | None = None,
    *,
    fast: bool = False,
) -> TerminalPort:
    """The adapter for `terminal_config.kind`; 'real' raises TerminalUnavailable off Windows."""
    if terminal_config.kind == "real":
        return RealTerminal(terminal_config.path, timeout_ms=terminal_config.timeout_ms)
    if terminal_config.kind == "simulator":
        return SimulatedTerminal.from_config(
            terminal_config.simulator, symbols, clock=clock, fast=fast
        )
    raise ValueError(f"unknown terminal kind {terminal_config.kind!r}; use 'simulator' or 'real'")
