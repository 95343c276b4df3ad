"""Rules that look across fields of a valid account; they produce warnings, not errors."""

from __future__ import annotations

from collections.abc import Iterator

from config.models import AccountConfig
from config.yaml_source import KeyPath

RISK_PERCENT_WARN_ABOVE = 5.0


def account_warnings(account: AccountConfig) -> Iterator[tuple[KeyPath, str, str]]:
    """Yield (key path inside the account, rule, message) for each doubtful setting."""
    risk = account.risk
    if risk.risk_percent > RISK_PERCENT_WARN_ABOVE:
        yield (
            ("risk", "risk_percent"),
            "risk_percent_high",
            f"risk_percent {risk.risk_percent:g} is above {RISK_PERCENT_WARN_ABOVE:g}%"
            " of equity per trade",
        )
    names = set(account.symbol_names)
    for i, name in enumerate(risk.allowed_symbols or ()):
        if name not in names:
            yield (
                ("risk", "allowed_symbols", i),
                "allowed_symbol_unknown",
                f"allowed symbol {name!r} is not among the account's symbols",
            )
    daily, max_loss = risk.daily_loss, risk.max_loss
    if (
        daily.enabled
        and max_loss.enabled
        and daily.basis == "initial"
        and daily.limit_percent >= max_loss.limit_percent
    ):
        yield (
            ("risk", "daily_loss", "limit_percent"),
            "daily_not_below_max",
            f"daily loss limit {daily.limit_percent:g}% is not below the max loss limit "
            f"{max_loss.limit_percent:g}%, so it can never act first",
        )
    for i, fault in enumerate(account.terminal.simulator.faults):
        if fault.symbol is not None and fault.symbol not in names:
            yield (
                ("terminal", "simulator", "faults", i, "symbol"),
                "fault_symbol_unknown",
                f"fault symbol {fault.symbol!r} is not among the account's symbols",
            )
    if account.terminal.kind == "real" and account.enabled:
        if account.login is None or account.server is None:
            yield (
                ("terminal", "kind"),
                "real_terminal_login",
                "real terminal without login and server: the terminal's current login is used",
            )
        elif account.password_env is None:
            yield (
                ("password_env",),
                "real_terminal_password",
                "real terminal with a login but no password_env",
            )
