"""Shared plumbing for CLI commands: exit codes, signals, errors as one unwrapped line."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import NoReturn, TypeVar

from nats.aio.client import Client
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from rich.console import Console

from agents.supervisor.liveness import liveness_fd, signal_ready
from bus.connection import NatsUnavailable, resolve_url
from bus.datadir import DataDirLock, DataDirLocked

T = TypeVar("T")

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2

# soft_wrap: a long line stays one line when piped or narrow (tables still fit the width).
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)


def error_line(message: str) -> None:
    """Print `error: message` to stderr as it is: no wrapping, no markup."""
    prefix = "\x1b[1;31merror:\x1b[0m" if sys.stderr.isatty() else "error:"
    sys.stderr.write(f"{prefix} {message}\n")
    sys.stderr.flush()


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """Print one clear line to stderr and exit with `code`."""
    error_line(message)
    raise SystemExit(code)


def nats_url(explicit: str | None, data: Path) -> str:
    """The URL to use (flag, NATS_URL, the data dir's URL file, default); bad ones exit 2."""
    try:
        return resolve_url(explicit, data)
    except NatsUnavailable as exc:
        fail(str(exc))


def lock_data_dir(data: Path, command: str) -> DataDirLock:
    """Own `data` for this process's life; if another process owns it, one line and exit 2."""
    try:
        return DataDirLock(data, command).acquire()
    except DataDirLocked as exc:
        fail(str(exc))


def run(main: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine; an unreachable NATS becomes one line and exit 2."""
    try:
        return asyncio.run(main())  # type: ignore[arg-type]
    except NatsUnavailable as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        raise SystemExit(130) from None


def install_stop_signals(stop: asyncio.Event) -> None:
    """Set `stop` on SIGINT or SIGTERM (on platforms that allow loop signal handlers)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    if sys.platform == "win32":  # pragma: no cover - no loop signal handlers there
        signal.signal(signal.SIGINT, lambda *_: loop.call_soon_threadsafe(stop.set))


async def run_then_ready(main: Coroutine[object, object, T], ready: asyncio.Event) -> T:
    """Run `main`; once `ready` is set, tell a supervising `mtq up` (its liveness pipe)."""
    task = asyncio.ensure_future(main)
    waiting = asyncio.ensure_future(ready.wait())
    await asyncio.wait({task, waiting}, return_when=asyncio.FIRST_COMPLETED)
    waiting.cancel()
    if ready.is_set():
        signal_ready()
    return await task


def configure_logging(level: str, fmt: str) -> None:
    """Log at `level` in `fmt`; under `mtq up` (given a liveness pipe) the message alone,
    since `mtq up` stamps and names each line of its children."""
    plain = liveness_fd() is not None
    logging.basicConfig(level=level.upper(), format="%(message)s" if plain else fmt)


async def unless_stopped(work: Coroutine[object, object, T], stop: asyncio.Event) -> T | None:
    """`work`'s result, or None (and `work` cancelled) when `stop` is set first."""
    task = asyncio.ensure_future(work)
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if task.done():
        return task.result()
    task.cancel()
    await asyncio.wait({task})
    return None


async def ask_service(
    nc: Client,
    subject: str,
    data: bytes,
    *,
    responder: str,
    start_hint: str,
    timeout_s: float,
) -> bytes:
    """A NATS micro request from the shell; no responder, no answer in time or an error
    reply ends the command with one line (exit 2 for a 4xx, else 1)."""
    try:
        reply = await nc.request(subject, data, timeout=timeout_s)
    except NoRespondersError:
        fail(f"no {responder} answers on {subject}: {start_hint}")
    except NatsTimeout:
        fail(f"the {responder} did not answer on {subject} within {timeout_s:g} s")
    headers = reply.headers or {}
    code = headers.get("Nats-Service-Error-Code")
    if code:
        message = headers.get("Nats-Service-Error", "error")
        fail(message, EXIT_USAGE if code.startswith("4") else EXIT_PROBLEMS)
    return reply.data
