"""`mtq risk pause|resume|halt|reset|show ACCOUNT`: the `mtq-risk` service from the shell."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import msgspec
import typer

from bus import subjects
from bus.codec import encode
from bus.schemas.base import Message
from bus.schemas.risk import (
    RiskControlReply,
    RiskControlRequest,
    RiskShowReply,
    RiskShowRequest,
)
from domain.trading_state import ControlAction
from mtq import runtime
from mtq.options import DataOption, NatsUrlOption

app = typer.Typer(no_args_is_help=True, help="Trading-state control and risk state of accounts.")

Account = Annotated[str, typer.Argument(help="Account id.")]
Reason = Annotated[str, typer.Option("--reason", help="Why (recorded with the decision).")]
Actor = Annotated[
    str,
    typer.Option(
        "--actor",
        help="Who, in your words: a note in the recorded reason. The recorded actor is the "
        "NATS identity you connect as (`admin` with mtq up's credentials).",
    ),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print the reply as JSON.")]


async def _request(url: str, subject: str | None, request: Message) -> bytes:
    """Ask `subject`; None: this identity's own control subject."""
    return await runtime.ask_engine(
        url, "mtq-risk-cli", subject or subjects.risk_control, encode(request),
        what="send a control request", timeout_s=10,
    )  # fmt: skip


def _control(  # noqa: PLR0917 - the request's fields
    action: ControlAction, account: str, reason: str, actor: str, url: str, rebase: bool = False
) -> None:
    request = RiskControlRequest(
        account_id=account, action=action, reason=reason, actor=actor, rebase=rebase
    )
    data = runtime.run(lambda: _request(url, None, request))
    reply = msgspec.json.decode(data, type=RiskControlReply)
    change = "now" if reply.changed else "already"
    runtime.console.print(f"{account}: {change} {reply.trading_state}", highlight=False)


def _make(action: ControlAction, doc: str) -> None:
    def command(
        account: Account,
        reason: Reason,
        actor: Actor = "",
        nats_url: NatsUrlOption = None,
        data: DataOption = Path("data"),
    ) -> None:
        _control(action, account, reason, actor, runtime.nats_url(nats_url, data))

    command.__doc__ = doc
    app.command(action)(command)


_make("pause", "REDUCING: only orders that reduce exposure pass, until `resume`.")
_make("resume", "Back to ACTIVE after an operator's pause.")
_make("halt", "HALTED: no new exposure until an explicit `reset` (exits always pass).")


@app.command("reset")
def reset_command(  # noqa: PLR0917 - typer options
    account: Account,
    reason: Reason,
    actor: Actor = "",
    rebase: Annotated[
        bool,
        typer.Option(
            "--rebase",
            help="Equity is still beyond the daily floor: anchor the day at the balance "
            "(recorded as DayRebased with actor and reason). The max floor never moves.",
        ),
    ] = False,
    nats_url: NatsUrlOption = None,
    data: DataOption = Path("data"),
) -> None:
    """Back to ACTIVE from REDUCING or HALTED; refused while equity is beyond a floor."""
    _control("reset", account, reason, actor, runtime.nats_url(nats_url, data), rebase)


@app.command("show")
def show_command(
    account: Account,
    as_json: JsonFlag = False,
    nats_url: NatsUrlOption = None,
    data: DataOption = Path("data"),
) -> None:
    """Limits in force, day anchors, floors, current values and trading state."""
    url = runtime.nats_url(nats_url, data)
    request = RiskShowRequest(account_id=account)
    raw = runtime.run(lambda: _request(url, subjects.RISK_SHOW, request))
    reply = msgspec.json.decode(raw, type=RiskShowReply)
    if as_json:
        print(json.dumps(reply.summary, indent=2, sort_keys=True))
        return
    _print_summary(account, reply.summary)


def _print_summary(account: str, summary: dict[str, Any], indent: str = "") -> None:
    if not indent:
        runtime.console.print(f"[bold]{account}[/bold]")
    for key, value in summary.items():
        if isinstance(value, dict) and value:
            runtime.console.print(f"{indent}  {key}:", highlight=False, markup=False)
            _print_summary(account, value, indent + "  ")
        else:
            shown = json.dumps(value) if isinstance(value, list | dict) else value
            runtime.console.print(f"{indent}  {key}: {shown}", highlight=False, markup=False)
