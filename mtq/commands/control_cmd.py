"""`mtq control pause|resume|emergency-stop --group G`: a control on every account of a group.

Each member gets the per-account control `mtq risk pause|resume|halt` sends, on this
identity's own `mtq.risk.control.<identity>` (the recorded actor is that identity). The
group's accounts come from the config (`groups:`). A member the engine refuses (a breach's
hold stays on resume) is printed with the reason and the others still get theirs; any
refusal exits 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import msgspec
import typer
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

from bus import subjects
from bus.codec import encode
from bus.connection import connect, settings_from_env
from bus.schemas.risk import RiskControlReply, RiskControlRequest
from domain.trading_state import ControlAction
from mtq import runtime
from mtq.commands.risk_cmd import Actor, Reason
from mtq.configs import ConfigPaths, load_or_exit
from mtq.options import DataOption, NatsUrlOption

app = typer.Typer(no_args_is_help=True, help="Trading-state control of a group of accounts.")

Group = Annotated[str, typer.Option("--group", "-g", help="Group name (config `groups:`).")]
DEFAULT_CONFIG = [Path("config/examples/demo.yaml")]


async def _control_all(
    url: str, accounts: tuple[str, ...], action: ControlAction, reason: str, actor: str
) -> list[tuple[str, str | None, str | None]]:
    """(account, trading state, refusal) of each member, in the group's order."""
    settings = settings_from_env(url, name="mtq-control-cli")
    try:
        subject = subjects.risk_control(settings.auth.identity())
    except subjects.SubjectError as exc:
        runtime.fail(f"cannot send a control request as this identity: {exc}")
    nc = await connect(settings)
    results: list[tuple[str, str | None, str | None]] = []
    try:
        for account_id in accounts:
            request = RiskControlRequest(
                account_id=account_id, action=action, reason=reason, actor=actor
            )
            try:
                reply = await nc.request(subject, encode(request), timeout=10)
            except NoRespondersError:
                runtime.fail(f"no risk engine answers on {subject}: start `mtq up`")
            except NatsTimeout:
                runtime.fail(f"the risk engine did not answer on {subject} within 10 s")
            error = (reply.headers or {}).get("Nats-Service-Error")
            if error is not None:
                results.append((account_id, None, error))
                continue
            decoded = msgspec.json.decode(reply.data, type=RiskControlReply)
            results.append((account_id, decoded.trading_state, None))
    finally:
        await nc.close()
    return results


def _run(  # noqa: PLR0917 - the command's options
    action: ControlAction,
    group: str,
    reason: str,
    actor: str,
    config: list[Path],
    nats_url: str | None,
    data: Path,
) -> None:
    found = load_or_exit(config).group(group)
    if found is None:
        runtime.fail(f"unknown group {group!r} in {' '.join(str(p) for p in config)}")
    url = runtime.nats_url(nats_url, data)
    note = f"group {group}: {reason}"
    results = runtime.run(lambda: _control_all(url, found.accounts, action, note, actor))
    for account_id, state, refusal in results:
        shown = f"refused: {refusal}" if refusal is not None else f"now {state}"
        runtime.console.print(f"{account_id}: {shown}", highlight=False)
    if any(refusal is not None for _, _, refusal in results):
        raise SystemExit(runtime.EXIT_USAGE)


def _make(name: str, action: ControlAction, doc: str) -> None:
    def command(  # noqa: PLR0917 - typer options
        group: Group,
        reason: Reason,
        actor: Actor = "",
        config: ConfigPaths = DEFAULT_CONFIG,
        nats_url: NatsUrlOption = None,
        data: DataOption = Path("data"),
    ) -> None:
        _run(action, group, reason, actor, config, nats_url, data)

    command.__doc__ = doc
    app.command(name)(command)


_make("pause", "pause", "Every account of the group REDUCING (only orders that reduce).")
_make("resume", "resume", "Every account of the group back to ACTIVE after a pause.")
_make("emergency-stop", "halt", "Every account of the group HALTED until `mtq risk reset`.")
