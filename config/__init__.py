"""Account configuration: frozen models, YAML loading with merge strategies, validation."""

from __future__ import annotations

from config.errors import (
    ConfigError,
    ConfigFileError,
    Issue,
    PasswordNotSetError,
    UnknownAccountError,
    ValidationResult,
)
from config.loader import check_config, load_config, validate_files
from config.models import (
    AccountConfig,
    AgentConfig,
    BreakerConfig,
    DailyLossConfig,
    FaultConfig,
    MaxLossConfig,
    MtqConfig,
    OutboxConfig,
    ReconciliationConfig,
    ReconnectConfig,
    RiskActionsConfig,
    RiskConfig,
    SimulatorConfig,
    SimulatorStrategyConfig,
    StreamsConfig,
    SupervisorConfig,
    SymbolConfig,
    TerminalConfig,
)

__all__ = [
    "AccountConfig",
    "AgentConfig",
    "BreakerConfig",
    "ConfigError",
    "ConfigFileError",
    "DailyLossConfig",
    "FaultConfig",
    "Issue",
    "MaxLossConfig",
    "MtqConfig",
    "OutboxConfig",
    "PasswordNotSetError",
    "ReconciliationConfig",
    "ReconnectConfig",
    "RiskActionsConfig",
    "RiskConfig",
    "SimulatorConfig",
    "SimulatorStrategyConfig",
    "StreamsConfig",
    "SupervisorConfig",
    "SymbolConfig",
    "TerminalConfig",
    "UnknownAccountError",
    "ValidationResult",
    "check_config",
    "load_config",
    "validate_files",
]
