"""Choose and build the terminal adapter an account's config asks for."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from agents.terminal.port import TerminalPort
from agents.terminal.real import RealTerminal
from agents.terminal.simulator.clock import SimClock
from agents.terminal.simulator.settings import settings_from_config
from agents.terminal.simulator.terminal import SimulatedTerminal

if TYPE_CHECKING:
    from config.models import SymbolConfig, TerminalConfig


def make_terminal(
    terminal_config: TerminalConfig,
    symbols: Iterable[SymbolConfig] = (),
    clock: SimClock | None = None,
    *,
    fast: bool = False,
    world_path: Path | None = None,
) -> TerminalPort:
    """The adapter for `terminal_config.kind`; 'real' raises TerminalUnavailable off Windows.

    With `world_path` a simulator keeps its world there and continues it after a restart.
    """
    if terminal_config.kind == "real":
        return RealTerminal(terminal_config.path, timeout_ms=terminal_config.timeout_ms)
    if terminal_config.kind == "simulator" and world_path is not None:
        settings = settings_from_config(terminal_config.simulator, symbols, fast=fast)
        return SimulatedTerminal.persistent(settings, world_path, clock)
    if terminal_config.kind == "simulator":
        return SimulatedTerminal.from_config(
            terminal_config.simulator, symbols, clock=clock, fast=fast
        )
    raise ValueError(f"unknown terminal kind {terminal_config.kind!r}; use 'simulator' or 'real'")


def simulator_world_path(data_dir: Path, account_id: str) -> Path:
    """Where an account's simulated world is kept, next to its agent database."""
    return data_dir / f"sim-{account_id}.jsonl"
