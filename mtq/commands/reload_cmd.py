"""`mtq reload`: apply the edited config to a running mtq without a restart.

1. With `--config`, the files are validated here first: an invalid config prints every
   file:line error and exits 2, sending nothing.
2. An engine run alone re-reads its own config files (`mtq.risk.reload.<identity>`):
   changed limits are recorded as `LimitsChanged` with the identity as the actor, added
   accounts are registered; an invalid config is refused with its file:line errors and the limits in
   force stay.
3. When `mtq up` holds the data dir, step 2 is its own: it gets SIGHUP, validates its
   config, has the engine re-read it (actor `admin`), starts the agents of added accounts
   and stops those of removed ones gracefully, and restarts the API on its socket with the
   new tokens and webhooks (mtq/reload.py); its outcome is printed here.
"""

from __future__ import annotations

import os
import signal
import time
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
from mtq.reload import read_result

UP_COMMAND = "mtq up"
UP_TIMEOUT_S = 120.0
"""How long `mtq up` may take to reload (agents stopped gracefully, the API restarted)."""


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


def up_pid(data: Path) -> int | None:
    """The pid of the `mtq up` holding `data`, None when none runs there."""
    holder = read_holder(data)
    if holder is None or not holder.command.startswith(UP_COMMAND) or not holder.alive():
        return None
    return holder.pid


def reload_up(pid: int, data: Path) -> None:
    """SIGHUP to `mtq up`, then its outcome (DATA/run/reload.json) printed; exit 2 if refused."""
    before = read_result(data)
    os.kill(pid, signal.SIGHUP)
    deadline = time.monotonic() + UP_TIMEOUT_S
    result = before
    while result == before:
        if time.monotonic() > deadline:
            runtime.fail(f"mtq up (pid {pid}) did not report the reload within {UP_TIMEOUT_S:g} s")
        time.sleep(0.1)
        result = read_result(data)
    assert result is not None
    lines = [str(line) for line in result.get("lines", [])]  # type: ignore[attr-defined]
    if not result.get("ok"):
        for line in lines[:-1]:
            runtime.err_console.print(line, highlight=False, markup=False)
        runtime.fail(lines[-1] if lines else "mtq up refused the config")
    for line in lines:
        runtime.console.print(f"mtq up (pid {pid}): {line}", highlight=False, markup=False)


def reload(
    *,
    config: Annotated[
        list[Path] | None,
        typer.Option("--config", "-c", help="Validate these files first (the ones mtq runs)."),
    ] = None,
    nats_url: NatsUrlOption = None,
    data: DataOption = Path("data"),
) -> None:
    """Re-read the config of the running `mtq up` (or engine): limits, accounts, tokens."""
    if config:
        load_or_exit(config)
    pid = up_pid(data)
    if pid is not None:
        reload_up(pid, data)
        return
    url = runtime.nats_url(nats_url, data)
    reply = msgspec.json.decode(runtime.run(lambda: _ask(url)), type=ReloadReply)
    changed = ", ".join(reply.changed) or "none"
    runtime.console.print(f"engine: limits changed on {changed}", highlight=False)
    if reply.removed:
        runtime.console.print(f"engine: no longer configured: {', '.join(reply.removed)}")


def register(app: typer.Typer) -> None:
    app.command("reload")(reload)
