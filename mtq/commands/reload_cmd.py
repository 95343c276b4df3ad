"""`mtq reload`: apply the edited config to a running mtq without a restart.

1. With `--config`, the files are validated here first: an invalid config prints every
   file:line error and exits 2, sending nothing.
2. The engine re-reads its own config files (`mtq.risk.reload.<identity>`): changed limits
   are recorded as `LimitsChanged` with the identity as the actor, added accounts are
   registered; an invalid config is refused with its file:line errors and the limits in
   force stay.
3. When `mtq up` holds the data dir it gets SIGHUP: its supervisor starts the agents of
   added accounts and stops those of removed ones gracefully, and the API reloads its
   tokens and webhooks (see `mtq up`).
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Annotated

import msgspec
import typer
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

from bus import subjects
from bus.codec import encode
from bus.connection import connect, settings_from_env
from bus.datadir import read_holder
from bus.schemas.news import ReloadReply, ReloadRequest
from engine.service import LINE_BREAK
from mtq import runtime
from mtq.configs import load_or_exit
from mtq.options import DataOption, NatsUrlOption

UP_COMMAND = "mtq up"


async def _ask(url: str) -> bytes:
    settings = settings_from_env(url, name="mtq-reload-cli")
    try:
        subject = subjects.risk_reload(settings.auth.identity())
    except subjects.SubjectError as exc:
        runtime.fail(f"cannot ask for a reload as this identity: {exc}")
    nc = await connect(settings)
    try:
        reply = await nc.request(subject, encode(ReloadRequest()), timeout=30)
    except NoRespondersError:
        runtime.fail(f"no risk engine answers on {subject}: start `mtq engine run` or `mtq up`")
    except NatsTimeout:
        runtime.fail(f"the risk engine did not answer on {subject} within 30 s")
    finally:
        await nc.close()
    headers = reply.headers or {}
    code = headers.get("Nats-Service-Error-Code")
    if code:
        head, *lines = headers.get("Nats-Service-Error", "error").split(LINE_BREAK)
        for line in lines:
            runtime.err_console.print(line, highlight=False, markup=False)
        runtime.fail(head, runtime.EXIT_USAGE if code.startswith("4") else runtime.EXIT_PROBLEMS)
    return reply.data


def signal_up(data: Path) -> int | None:
    """SIGHUP to the `mtq up` holding `data` (its pid), None when none runs there."""
    holder = read_holder(data)
    if holder is None or not holder.command.startswith(UP_COMMAND) or not holder.alive():
        return None
    os.kill(holder.pid, signal.SIGHUP)
    return holder.pid


def reload(
    *,
    config: Annotated[
        list[Path] | None,
        typer.Option("--config", "-c", help="Validate these files first (the ones mtq runs)."),
    ] = None,
    nats_url: NatsUrlOption = None,
    data: DataOption = Path("data"),
) -> None:
    """Re-read the config of the running engine (and `mtq up`): limits, accounts, tokens."""
    if config:
        load_or_exit(config)
    url = runtime.nats_url(nats_url, data)
    reply = msgspec.json.decode(runtime.run(lambda: _ask(url)), type=ReloadReply)
    changed = ", ".join(reply.changed) or "none"
    runtime.console.print(f"engine: limits changed on {changed}", highlight=False)
    if reply.removed:
        runtime.console.print(f"engine: no longer configured: {', '.join(reply.removed)}")
    pid = signal_up(data)
    if pid is not None:
        runtime.console.print(
            f"mtq up (pid {pid}): SIGHUP sent (agents, API tokens and webhooks)", highlight=False
        )


def register(app: typer.Typer) -> None:
    app.command("reload")(reload)
