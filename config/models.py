"""Frozen account configuration models (docs/architecture.md §7): passwords only as env names."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Annotated, Any, Final, Literal

from limits import parse as parse_rate
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from config.errors import ConfigError, PasswordNotSetError, UnknownAccountError
from config.fields import AccountId, EnvVarName, PercentOrZero, Probability, SymbolName
from config.risk_models import (
    DailyLossConfig,
    MaxLossConfig,
    ReconciliationConfig,
    RiskActionsConfig,
    RiskConfig,
)

__all__ = [
    "ALERT_KINDS",
    "PRESET_CAPITAL_RULE",
    "SEVERITIES",
    "AccountConfig",
    "AgentConfig",
    "AlertsConfig",
    "ApiConfig",
    "ApiTokenConfig",
    "BreakerConfig",
    "ConfigError",
    "DailyLossConfig",
    "FaultConfig",
    "MaxLossConfig",
    "MtqConfig",
    "NotifyConfig",
    "OutboxConfig",
    "RateLimitsConfig",
    "ReconciliationConfig",
    "ReconnectConfig",
    "RiskActionsConfig",
    "RiskConfig",
    "Severity",
    "SimulatorConfig",
    "SimulatorStrategyConfig",
    "SizingConfig",
    "StrategyConfig",
    "StreamsConfig",
    "SupervisorConfig",
    "SymbolConfig",
    "TerminalConfig",
    "WebhookConfig",
]

PRESET_CAPITAL_RULE: Final = "preset_initial_capital"
"""The rule an account breaks when it names a preset but no `risk.initial_capital`."""
PositiveFloat = Annotated[float, Field(gt=0)]
PositiveInt = Annotated[int, Field(gt=0)]
NonNegativeFloat = Annotated[float, Field(ge=0)]
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


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _digits(data: dict[str, Any]) -> int:
    digits = data.get("digits", 5)
    return digits if isinstance(digits, int) else 5


class SymbolConfig(_Frozen):
    """A traded symbol: quote precision, contract, simulator walk and market-guard limits."""

    name: SymbolName
    digits: Annotated[int, Field(ge=0, le=10)] = 5
    point: PositiveFloat = Field(default_factory=lambda data: 10.0 ** -_digits(data))
    """Smallest price step; 10**-digits when not given."""
    contract_size: PositiveFloat = 100000.0
    tick_value: PositiveFloat = 1.0
    tick_size: PositiveFloat = Field(default_factory=lambda data: 10.0 ** -_digits(data))
    """Price step for `tick_value`; the point when not given."""
    spread_points: Annotated[int, Field(ge=0)] = 10
    start_price: PositiveFloat | None = None
    volatility: PositiveFloat = 0.0001
    max_spread_pips: PositiveFloat | None = None
    max_gap_pips: PositiveFloat | None = None
    stale_feed_seconds: PositiveFloat | None = None
    volume_min: PositiveFloat = 0.01
    volume_step: PositiveFloat = 0.01
    volume_max: PositiveFloat = 100.0
    """The broker's volume limits (MT5 `volume_min/step/max`): what signal sizing rounds to."""

    @model_validator(mode="before")
    @classmethod
    def _drop_null_derived(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {
                k: v for k, v in data.items() if not (k in ("point", "tick_size") and v is None)
            }
        return data

    @property
    def pip(self) -> float:
        """One pip: ten points on 5- and 3-digit quotes, else one (docs/architecture.md §5)."""
        return self.point * 10 if self.digits in (3, 5) else self.point


class SimulatorStrategyConfig(_Frozen):
    """How the simulator opens and closes positions by itself."""

    kind: Literal["none", "random"] = "random"
    open_probability: Probability = 0.01
    close_probability: Probability = 0.005
    max_positions: Annotated[int, Field(ge=0)] = 3
    volume_choices: tuple[PositiveFloat, ...] = (0.01, 0.1, 0.5)
    sl_pips: PositiveFloat | None = 30.0
    tp_pips: PositiveFloat | None = 60.0
    magic: Annotated[int, Field(ge=0)] = 424242
    risk_check: bool = False
    """Trade like an integrated strategy: ask `mtq.risk.check` before each open, open only
    what is approved; some trades are manual, some slip, some diverge, some are never sent."""


class FaultConfig(_Frozen):
    """One injected fault, `start_s` seconds after the simulator starts."""

    kind: FaultKind
    start_s: NonNegativeFloat
    duration_s: NonNegativeFloat = 5.0
    symbol: SymbolName | None = None
    drop_percent: PercentOrZero = 0.0
    probability: Probability = 1.0
    hang_s: NonNegativeFloat = 30.0
    """order_send_hang: wall-clock seconds `order_send` blocks after executing."""


class SimulatorConfig(_Frozen):
    seed: int = 1
    initial_balance: PositiveFloat = 100000.0
    currency: Annotated[str, Field(min_length=3, max_length=3)] = "USD"
    leverage: PositiveInt = 100
    stop_out_level_percent: Annotated[float, Field(ge=0, le=1000)] = 50.0
    tick_interval_ms: PositiveInt = 100
    strategy: SimulatorStrategyConfig = SimulatorStrategyConfig()
    faults: tuple[FaultConfig, ...] = ()
    margin_mode: Literal["hedging", "netting"] = "hedging"
    """The simulated account's ACCOUNT_MARGIN_MODE_RETAIL_*: several positions per symbol
    (hedging) or one per symbol with reversals (netting)."""


class TerminalConfig(_Frozen):
    kind: Literal["simulator", "real"] = "simulator"
    path: str | None = None
    """Path of the real terminal's executable; None lets MetaTrader5 find it."""
    timeout_ms: PositiveInt = 60000
    simulator: SimulatorConfig = SimulatorConfig()


class BreakerConfig(_Frozen):
    failure_threshold: PositiveInt = 5
    recovery_seconds: PositiveFloat = 10.0
    half_open_max_calls: PositiveInt = 1


class ReconnectConfig(_Frozen):
    initial_delay_s: PositiveFloat = 0.5
    max_delay_s: PositiveFloat = 30.0
    factor: Annotated[float, Field(ge=1)] = 2.0
    jitter: Probability = 0.2


class OutboxConfig(_Frozen):
    max_messages: PositiveInt = 100000


class AgentConfig(_Frozen):
    poll_interval_ms: PositiveInt = 100
    account_snapshot_interval_s: PositiveFloat = 5.0
    heartbeat_interval_s: PositiveFloat = 2.0
    slow_terminal_ms: PositiveFloat = 500.0
    stale_feed_seconds: PositiveFloat = 30.0
    order_retries: Annotated[int, Field(ge=0)] = 3
    breaker: BreakerConfig = BreakerConfig()
    reconnect: ReconnectConfig = ReconnectConfig()
    outbox: OutboxConfig = OutboxConfig()


HEARTBEAT_TIMEOUT_S: Final = 15.0
"""The default `supervisor.heartbeat_timeout_s`: an agent silent this long is unhealthy."""


class SupervisorConfig(_Frozen):
    restart_initial_delay_s: PositiveFloat = 60.0
    restart_factor: Annotated[float, Field(ge=1)] = 2.0
    restart_max_delay_s: PositiveFloat = 3600.0
    stop_timeout_s: PositiveFloat = 10.0
    heartbeat_timeout_s: PositiveFloat = HEARTBEAT_TIMEOUT_S
    health_check_interval_s: PositiveFloat = 1.0
    unhealthy_restart_after_s: PositiveFloat = 300.0
    """Restart an agent that has stayed UNHEALTHY this long."""
    healthy_reset_after_s: PositiveFloat = 600.0
    """Reset the restart backoff once an agent has been healthy this long."""
    service_liveness_timeout_s: Annotated[float, Field(ge=3)] = 30.0
    """Kill and restart the engine, projector or API once its liveness pipe is this silent
    (they beat every second: at least 3 s)."""


class StreamsConfig(_Frozen):
    """JetStream retention settings (docs/architecture.md §2)."""

    ticks_max_age_hours: PositiveFloat = 24.0
    dlq_max_age_days: PositiveFloat = 30.0
    replicas: Annotated[int, Field(ge=1, le=5)] = 1


ALERT_KINDS: Final = (
    "DrawdownWarning",
    "DrawdownBreached",
    "LiquidationPending",
    "LiquidationCancelled",
    "LiquidationOrdered",
    "PositionCloseOrdered",
    "TradingStateChanged",
    "FeedStale",
    "FeedRestored",
    "ScheduleWarning",
    "ScheduleFlattened",
    "NewsStopNearWindow",
    "NewsWindowViolation",
    "CrossHedgeDetected",
    "GroupLimitViolated",
    "AgentUnhealthy",
    "BusUnreachable",
)
"""What the HTTP API alerts on (webhook `events` name these, or `*` for all)."""
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
_TOKEN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")


class ApiTokenConfig(_Frozen):
    """A bearer token of the HTTP API: its name (the recorded actor) and its SHA-256."""

    name: str
    sha256: str
    """Hex SHA-256 of the token (`printf %s TOKEN | sha256sum`); the token itself is never here."""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _TOKEN_NAME.match(value):
            raise PydanticCustomError(
                "token_name",
                f"token name {value!r}: letters, digits, '_', '.', '@', '-', 1 to 64 characters",
            )
        return value

    @field_validator("sha256")
    @classmethod
    def _hash(cls, value: str) -> str:
        if not _SHA256_HEX.match(value.lower()):
            raise PydanticCustomError(
                "sha256_hex", "must be the token's SHA-256 as 64 hex digits, not the token"
            )
        return value.lower()


class WebhookConfig(_Frozen):
    """Where alerts are POSTed, signed with HMAC-SHA256 of the body (secret from the env)."""

    url: str
    events: tuple[str, ...] = ("*",)
    secret_env: EnvVarName | None = None
    """Environment variable holding the signing secret (unsigned when None)."""
    name: str | None = None
    max_attempts: Annotated[int, Field(ge=1, le=20)] = 5
    backoff_initial_s: PositiveFloat = 1.0
    backoff_factor: Annotated[float, Field(ge=1)] = 2.0
    backoff_max_s: PositiveFloat = 60.0
    timeout_s: PositiveFloat = 5.0

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")) or len(value) < 10:
            raise PydanticCustomError(
                "url", f"webhook url must start with http:// or https://, got {value!r}"
            )
        return value

    @field_validator("events")
    @classmethod
    def _events(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [e for e in value if e != "*" and e not in ALERT_KINDS]
        if unknown or not value:
            raise PydanticCustomError(
                "alert_kind",
                f"unknown alert kind(s) {', '.join(unknown) or '(none given)'}; "
                f"known: *, {', '.join(ALERT_KINDS)}",
            )
        return value

    def wants(self, kind: str) -> bool:
        return "*" in self.events or kind in self.events


class RateLimitsConfig(_Frozen):
    """Requests per token (or per client address without a valid token), as `N/period`."""

    enabled: bool = True
    reads: str = "600/minute"
    """GET requests: reads, the dashboard's pages and data (a page reads up to ~3/s)."""
    control: str = "60/minute"
    """Every other method: worker and risk control, the pre-trade check."""

    @field_validator("reads", "control")
    @classmethod
    def _rate(cls, value: str) -> str:
        try:
            parse_rate(value)
        except ValueError:
            raise PydanticCustomError(
                "rate_limit",
                f"rate limit {value!r}: write N/period, e.g. 120/minute, 10/second, 1000/hour",
            ) from None
        return value


class ApiConfig(_Frozen):
    """The HTTP API's tokens and alert webhooks (more tokens may come from MTQ_API_TOKENS)."""

    tokens: tuple[ApiTokenConfig, ...] = ()
    webhooks: tuple[WebhookConfig, ...] = ()
    max_body_bytes: PositiveInt = 1024 * 1024
    """Largest request body the API takes; a larger one answers 413 before it is read."""
    rate_limits: RateLimitsConfig = RateLimitsConfig()

    @field_validator("tokens")
    @classmethod
    def _unique_names(cls, tokens: tuple[ApiTokenConfig, ...]) -> tuple[ApiTokenConfig, ...]:
        names = [t.name for t in tokens]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise PydanticCustomError(
                "duplicate_token", f"token names used more than once: {', '.join(dupes)}"
            )
        return tokens


Severity = Literal["info", "warning", "critical"]
SEVERITIES: Final[tuple[Severity, ...]] = ("info", "warning", "critical")
_ENV_PIECE: Final = re.compile(r"\$\{([^}]*)\}")
_ENV_NAME: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def env_pieces(url: str) -> tuple[str, ...]:
    """The names of the `${NAME}` pieces of a notification URL, in order."""
    return tuple(m.group(1) for m in _ENV_PIECE.finditer(url))


def expand_env(url: str, environ: Mapping[str, str]) -> str:
    """The URL with each `${NAME}` replaced by the variable; ConfigError naming an unset one."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        found = environ.get(name)
        if not found:
            raise ConfigError(f"environment variable {name} is not set (alerts.notify url)")
        return found

    return _ENV_PIECE.sub(value, url)


class NotifyConfig(_Frozen):
    """An apprise URL alerts are sent to (Telegram, e-mail, Slack, ...), retried as webhooks.

    Secrets stay in the environment: write `${NAME}` for the whole URL or a piece of it;
    every variable must be set when the config is loaded, and the URL is expanded only
    when the API builds its notifier (the config never holds the secret).
    """

    url: str
    min_severity: Severity = "info"
    """Alerts below this are not sent here (info < warning < critical)."""
    name: str | None = None
    max_attempts: Annotated[int, Field(ge=1, le=20)] = 5
    backoff_initial_s: PositiveFloat = 1.0
    backoff_factor: Annotated[float, Field(ge=1)] = 2.0
    backoff_max_s: PositiveFloat = 60.0

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        names = env_pieces(value)
        bad = [n for n in names if not _ENV_NAME.match(n)]
        if bad:
            raise PydanticCustomError(
                "env_name", f"${{{bad[0]}}} is not an environment variable name"
            )
        unset = [n for n in names if not os.environ.get(n)]
        if unset:
            raise PydanticCustomError(
                "env_unset",
                f"environment variable {unset[0]} is not set (this notification URL needs it)",
            )
        if "://" not in value and value != f"${{{names[0] if names else ''}}}":
            raise PydanticCustomError(
                "url", "an apprise URL like mailtos://user:pass@host or tgram://TOKEN/CHAT"
            )
        return value

    def delay(self, attempt: int) -> float:
        """Seconds before attempt `attempt + 1`: the webhooks' backoff."""
        return float(
            min(self.backoff_max_s, self.backoff_initial_s * self.backoff_factor ** (attempt - 1))
        )

    def wants(self, severity: Severity) -> bool:
        return SEVERITIES.index(severity) >= SEVERITIES.index(self.min_severity)


class AlertsConfig(_Frozen):
    """Where alerts go besides the API's webhooks: `notify`, a list of apprise URLs."""

    notify: tuple[NotifyConfig, ...] = ()

    @field_validator("notify")
    @classmethod
    def _unique_names(cls, targets: tuple[NotifyConfig, ...]) -> tuple[NotifyConfig, ...]:
        names = [t.name for t in targets if t.name is not None]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise PydanticCustomError(
                "duplicate_notify", f"notification names used more than once: {', '.join(dupes)}"
            )
        return targets


class AccountConfig(_Frozen):
    """One MT5 account: where its terminal is, what it trades and which risk rules apply."""

    id: AccountId
    enabled: bool = True
    login: PositiveInt | None = None
    server: str | None = None
    password_env: EnvVarName | None = None
    """Name of the environment variable holding the password; the password is never stored."""
    terminal: TerminalConfig = TerminalConfig()
    symbols: tuple[SymbolConfig, ...] = Field(default=(), validate_default=True)
    """At least one; an account without symbols is rejected."""
    risk: RiskConfig = RiskConfig()
    agent: AgentConfig = AgentConfig()

    @field_validator("symbols")
    @classmethod
    def _symbols_present_and_unique(
        cls, symbols: tuple[SymbolConfig, ...]
    ) -> tuple[SymbolConfig, ...]:
        if not symbols:
            raise PydanticCustomError("symbols_required", "at least one symbol is required")
        names = [s.name for s in symbols]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise PydanticCustomError(
                "duplicate_symbol", f"symbols listed more than once: {', '.join(dupes)}"
            )
        return symbols

    @model_validator(mode="after")
    def _preset_needs_initial_capital(self) -> AccountConfig:
        preset = self.risk.preset
        if preset is not None and self.risk.initial_capital is None:
            raise PydanticCustomError(
                PRESET_CAPITAL_RULE,
                f"preset {preset!r} needs risk.initial_capital (the challenge size): its "
                "floors are percentages of it, and mtq never takes the first balance seen",
            )
        return self

    @property
    def symbol_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.symbols)

    def symbol(self, name: str) -> SymbolConfig:
        """The symbol called `name`; ConfigError naming the account's symbols if absent."""
        for s in self.symbols:
            if s.name == name:
                return s
        raise ConfigError(
            f"account {self.id!r} has no symbol {name!r}; it has {', '.join(self.symbol_names)}"
        )

    def resolve_password(self, environ: Mapping[str, str] | None = None) -> str:
        """Read the password from the environment (only when an agent starts)."""
        env = os.environ if environ is None else environ
        if self.password_env is None:
            raise PasswordNotSetError(
                f"account {self.id!r} has no password_env: set password_env in its config "
                "to the name of an environment variable holding the password"
            )
        value = env.get(self.password_env)
        if not value:
            raise PasswordNotSetError(
                f"account {self.id!r}: environment variable {self.password_env} is not set "
                "(it must hold the account's password)"
            )
        return value

    def masked_password(self, environ: Mapping[str, str] | None = None) -> str:
        """Show where the password comes from without showing it, e.g. `$MT5_PW (set)`."""
        if self.password_env is None:
            return "-"
        env = os.environ if environ is None else environ
        state = "set" if env.get(self.password_env) else "not set"
        return f"${self.password_env} ({state})"


Approval = Literal["auto", "manual"]


class SizingConfig(_Frozen):
    """Exactly one of `fixed` (lots) and `risk_percent` (of equity, from the SL distance)."""

    fixed: PositiveFloat | None = None
    risk_percent: Annotated[float, Field(gt=0, le=100)] | None = None

    @model_validator(mode="after")
    def _one(self) -> SizingConfig:
        if (self.fixed is None) == (self.risk_percent is None):
            raise PydanticCustomError(
                "sizing", "sizing takes exactly one of fixed (lots) and risk_percent"
            )
        return self


class StrategyConfig(_Frozen):
    """A signal provider: signs its signals with the HMAC secret in `secret_env`.

    `secret_env` is read by the HTTP API only (the one part that checks signatures).
    `approval` is one mode for all its accounts, or a mode per account (unlisted: manual).
    """

    name: AccountId
    secret_env: EnvVarName
    accounts: tuple[AccountId, ...] | Literal["all"] = "all"
    approval: Approval | dict[AccountId, Approval] = "manual"
    sizing: SizingConfig = SizingConfig(fixed=0.01)
    expires_after_seconds: PositiveFloat = 60.0

    def approval_for(self, account_id: str) -> Approval:
        if isinstance(self.approval, str):
            return self.approval
        return self.approval.get(account_id, "manual")

    def account_ids(self, configured: tuple[str, ...]) -> tuple[str, ...]:
        """Its accounts among `configured` (in config order for `all`)."""
        return configured if self.accounts == "all" else self.accounts


def strategy_issues(
    strategies: tuple[StrategyConfig, ...], account_ids: tuple[str, ...]
) -> list[tuple[int, tuple[str | int, ...], str, str]]:
    """(index, key path, rule, message) for each strategy naming an unknown account, a
    repeated name, or an approval for an account it does not trade."""
    issues: list[tuple[int, tuple[str | int, ...], str, str]] = []
    seen: set[str] = set()
    for i, strategy in enumerate(strategies):
        if strategy.name in seen:
            issues.append((i, ("name",), "duplicate_strategy",
                           f"strategy {strategy.name!r} is defined twice"))  # fmt: skip
        seen.add(strategy.name)
        mine = strategy.account_ids(account_ids)
        for j, account_id in enumerate(mine):
            if account_id not in account_ids:
                issues.append((i, ("accounts", j), "unknown_account",
                               f"unknown account {account_id!r}; known: "
                               f"{', '.join(account_ids) or 'none'}"))  # fmt: skip
        if isinstance(strategy.approval, dict):
            for account_id in strategy.approval:
                if account_id not in mine:
                    issues.append((i, ("approval", account_id), "unknown_account",
                                   f"approval for {account_id!r}, not an account of "
                                   f"strategy {strategy.name!r}"))  # fmt: skip
    return issues


class NewsConfig(_Frozen):
    """`calendar`: a CSV or iCalendar file of news events (config/calendar.py; relative to
    the first config file's directory), put in force on every account with a
    `risk.news_blackout` when the engine starts and on `mtq reload`."""

    calendar: str | None = None


class GroupLimitsConfig(_Frozen):
    """Limits over every account of a group together (none by default)."""

    max_lots_per_symbol: PositiveFloat | None = None
    """Gross lots open on one symbol over all the group's accounts."""
    max_positions: Annotated[int, Field(ge=1)] | None = None
    """Open positions over all the group's accounts."""
    min_headroom: NonNegativeFloat | None = None
    """The sum over the accounts of equity above each one's nearest loss floor: opening is
    denied while it is below this (money, in the accounts' currency)."""


class GroupConfig(_Frozen):
    """An account group (`groups:` at the top level): a trader's set of accounts, or a
    copier's followers. Its accounts are decided together, in one place; where the engine is
    partitioned later, the group is the partition key (a group never spans partitions).

    `forbid_cross_hedge`: pre-trade denies an order opposite to an open position on another
    account of the group (FTMO: "simultaneously entering into opposite positions" across
    connected accounts); one that appears anyway records `CrossHedgeDetected`.
    """

    name: AccountId
    accounts: Annotated[tuple[AccountId, ...], Field(min_length=1)]
    limits: GroupLimitsConfig = GroupLimitsConfig()
    forbid_cross_hedge: bool = False


def group_issues(
    groups: tuple[GroupConfig, ...], account_ids: tuple[str, ...]
) -> list[tuple[int, tuple[str | int, ...], str, str]]:
    """(index, key path, rule, message) for each group naming an unknown account, a repeated
    name, or an account already in another group (an account is in at most one group)."""
    issues: list[tuple[int, tuple[str | int, ...], str, str]] = []
    names: set[str] = set()
    owner: dict[str, str] = {}
    for i, group in enumerate(groups):
        if group.name in names:
            issues.append((i, ("name",), "duplicate_group",
                           f"group {group.name!r} is defined twice"))  # fmt: skip
        names.add(group.name)
        for j, account_id in enumerate(group.accounts):
            if account_id not in account_ids:
                issues.append((i, ("accounts", j), "unknown_account",
                               f"unknown account {account_id!r}; known: "
                               f"{', '.join(account_ids) or 'none'}"))  # fmt: skip
            elif account_id in owner:
                message = (f"account {account_id!r} is already in group {owner[account_id]!r}:"
                           " an account is in at most one group")  # fmt: skip
                issues.append((i, ("accounts", j), "account_in_two_groups", message))
            else:
                owner[account_id] = group.name
    return issues


class MtqConfig(_Frozen):
    """The whole configuration: accounts after merging defaults, supervisor and streams."""

    accounts: tuple[AccountConfig, ...] = ()
    supervisor: SupervisorConfig = SupervisorConfig()
    streams: StreamsConfig = StreamsConfig()
    api: ApiConfig = ApiConfig()
    alerts: AlertsConfig = AlertsConfig()
    strategies: tuple[StrategyConfig, ...] = ()
    """Signal providers (issue 17): `strategies:` at the top level."""
    news: NewsConfig = NewsConfig()
    groups: tuple[GroupConfig, ...] = ()
    """Account groups (issue 19): `groups:` at the top level."""
    source: tuple[str, ...] = Field(default=(), exclude=True)
    """Files this configuration was loaded from (left out of dumps)."""

    @field_validator("accounts")
    @classmethod
    def _unique_ids(cls, accounts: tuple[AccountConfig, ...]) -> tuple[AccountConfig, ...]:
        ids = [a.id for a in accounts]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise PydanticCustomError(
                "duplicate_id", f"account ids used more than once: {', '.join(dupes)}"
            )
        return accounts

    @property
    def account_ids(self) -> tuple[str, ...]:
        return tuple(a.id for a in self.accounts)

    def account(self, account_id: str) -> AccountConfig:
        """The account called `account_id`; UnknownAccountError listing known ids if absent."""
        for a in self.accounts:
            if a.id == account_id:
                return a
        raise UnknownAccountError(account_id, self.account_ids)

    def enabled_accounts(self) -> tuple[AccountConfig, ...]:
        return tuple(a for a in self.accounts if a.enabled)

    def group(self, name: str) -> GroupConfig | None:
        return next((g for g in self.groups if g.name == name), None)

    def group_of(self, account_id: str) -> GroupConfig | None:
        """The group `account_id` is in (at most one), None when in none."""
        return next((g for g in self.groups if account_id in g.accounts), None)

    def strategy(self, name: str) -> StrategyConfig | None:
        return next((s for s in self.strategies if s.name == name), None)
