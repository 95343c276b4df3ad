"""MT5 terminal access for agents: the port, its async facade, and the two adapters."""

from agents.terminal.async_terminal import AsyncTerminal
from agents.terminal.factory import make_terminal
from agents.terminal.port import TerminalPort, TerminalUnavailable, When
from agents.terminal.real import RealTerminal
from agents.terminal.simulator import ManualClock, SimClock, SimulatedTerminal, WallClock

__all__ = [
    "AsyncTerminal",
    "ManualClock",
    "RealTerminal",
    "SimClock",
    "SimulatedTerminal",
    "TerminalPort",
    "TerminalUnavailable",
    "WallClock",
    "When",
    "make_terminal",
]
