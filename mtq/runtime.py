"""Shared plumbing for CLI commands: exit codes, signals, NATS errors as one line."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import NoReturn, TypeVar

from rich.console import Console

from bus.connection import NatsUnavailable

T = TypeVar("T")

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2

console = Console()
err_console = Console(stderr=True)


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """Print one clear line to stderr and exit with `code`."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    raise SystemExit(code)


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
