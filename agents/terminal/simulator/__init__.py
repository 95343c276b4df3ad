"""A simulated MetaTrader 5 terminal: same API, named tuples and constants as `MetaTrader5`."""

from agents.terminal.simulator.clock import ManualClock, SimClock, WallClock
from agents.terminal.simulator.events import (
    FaultEnded,
    FaultStarted,
    OrderHandled,
    PositionClosed,
    PositionModified,
    PositionNetted,
    PositionOpened,
    PositionsRolledOver,
    SimEvent,
    TickGenerated,
)
from agents.terminal.simulator.settings import (
    DEFAULT_SYMBOLS,
    FaultSpec,
    SimulatorSettings,
    StrategySpec,
    SymbolSpec,
    settings_from_config,
)
from agents.terminal.simulator.terminal import SimulatedTerminal

__all__ = [
    "DEFAULT_SYMBOLS",
    "FaultEnded",
    "FaultSpec",
    "FaultStarted",
    "ManualClock",
    "OrderHandled",
    "PositionClosed",
    "PositionModified",
    "PositionNetted",
    "PositionOpened",
    "PositionsRolledOver",
    "SimClock",
    "SimEvent",
    "SimulatedTerminal",
    "SimulatorSettings",
    "StrategySpec",
    "SymbolSpec",
    "TickGenerated",
    "WallClock",
    "settings_from_config",
]
