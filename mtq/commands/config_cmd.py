"""`mtq config validate`: check config files and show each account's key settings.

`--show-rules` prints the resolved risk rules of each account (presets, defaults and the
account's own keys merged) exactly as the risk engine records them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
import yaml
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from config import AccountConfig, ConfigFileError, MtqConfig, ValidationResult, check_config
from config.models import GroupConfig
from engine.rules import rules_for

app = typer.Typer(no_args_is_help=True, help="Check account configuration files.")

EXIT_VALID = 0
EXIT_INVALID = 1
EXIT_BAD_INPUT = 2


@app.command("validate")
def validate(
    paths: Annotated[
        list[Path],
        typer.Argument(help="Config files: defaults and accounts, later files add or override."),
    ],
    show_rules: Annotated[
        bool,
        typer.Option("--show-rules", help="Print each account's resolved risk rules (YAML)."),
    ] = False,
) -> None:
    """Validate config files; exit 0 valid (maybe with warnings), 1 invalid, 2 unreadable."""
    console = Console(highlight=False, soft_wrap=True)
    try:
        config, result = check_config(paths)
    except ConfigFileError as exc:
        Console(stderr=True, highlight=False, soft_wrap=True).print(f"error: {escape(str(exc))}")
        raise typer.Exit(EXIT_BAD_INPUT) from None
    if config is not None:
        console.print(accounts_table(config))
        if show_rules:
            for account in config.accounts:
                console.print(f"[bold]{escape(account.id)}[/] resolved risk rules:")
                shown = resolved_rules_yaml(account, config.group_of(account.id))
                console.print(escape(shown), end="")
    _print_issues(console, result)
    if not result.valid:
        console.print(f"[bold red]invalid[/]: {len(result.errors)} error(s)")
        raise typer.Exit(EXIT_INVALID)
    suffix = f" with {len(result.warnings)} warning(s)" if result.warnings else ""
    console.print(
        f"[bold green]valid[/]: {len(config.accounts) if config else 0} account(s){suffix}"
    )


def accounts_table(config: MtqConfig) -> Table:
    """One row per account: id, state, terminal, symbols, key risk limits, password source."""
    table = Table(title="accounts", show_lines=False)
    for column in ("id", "enabled", "terminal", "symbols", "risk limits", "password"):
        table.add_column(column, overflow="fold")
    for account in config.accounts:
        table.add_row(
            escape(account.id),
            "yes" if account.enabled else "no",
            _terminal(account),
            escape(" ".join(account.symbol_names)),
            escape(risk_summary(account)),
            escape(account.masked_password()),
        )
    return table


def resolved_rules_yaml(account: AccountConfig, group: GroupConfig | None = None) -> str:
    """The domain rules the engine records for `account` (in `group`), as YAML in field order."""
    text: str = yaml.safe_dump(rules_for(account, group).to_dict(), sort_keys=False)
    return text


def risk_summary(account: AccountConfig) -> str:
    """Key limits, one rule per line."""
    risk = account.risk
    lines = [f"preset {risk.preset}"] if risk.preset else []
    lines += [
        f"positions {risk.max_positions}, trade {risk.risk_percent:g}%, "
        f"portfolio {risk.portfolio_risk_percent:g}%"
    ]
    if risk.max_lots_per_symbol is not None or risk.max_total_lots is not None:
        lines.append(f"lots/symbol {risk.max_lots_per_symbol}, total {risk.max_total_lots}")
    daily = risk.daily_loss
    if daily.enabled:
        lines.append(
            f"daily {daily.limit_percent:g}% of {daily.basis}, "
            f"{daily.anchor} at {daily.reset_time} {daily.timezone}, "
            f"breach {daily.breach_when.replace('_', ' ')}, reopen {daily.reopen.replace('_', ' ')}"
        )
    max_loss = risk.max_loss
    if max_loss.enabled:
        basis = f" of {max_loss.basis}" if max_loss.kind != "static" else ""
        lock = ", locked at initial" if max_loss.lock_at_initial else ""
        lines.append(f"max {max_loss.limit_percent:g}%{basis} {max_loss.kind}{lock}")
    return "\n".join(lines)


def _terminal(account: AccountConfig) -> str:
    terminal = account.terminal
    if terminal.kind == "simulator":
        return f"simulator\nseed {terminal.simulator.seed}"
    where = f"{account.login}@{account.server}" if account.login else "current login"
    return escape(f"real ({where})")


def _print_issues(console: Console, result: ValidationResult) -> None:
    for issue in result.errors:
        console.print(f"[red]error[/]: {escape(str(issue))}")
    for issue in result.warnings:
        console.print(f"[yellow]warning[/]: {escape(str(issue))}")
