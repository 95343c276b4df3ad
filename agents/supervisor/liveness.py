"""A sign of life that does not go through NATS: a byte on a pipe every heartbeat interval.

The supervisor gives each child the write end of a pipe (its fd number in
`MTQ_LIVENESS_FD`); the child's event loop writes one byte every interval. A child whose
pipe stays silent for the heartbeat timeout is unresponsive (hung, stopped, its loop
blocked) whatever the bus does, so a frozen nats-server never makes healthy agents look
dead.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Mapping
from typing import Final

LIVENESS_FD_ENV: Final = "MTQ_LIVENESS_FD"
BEAT: Final = b"."
READY: Final = b"R"
"""A service (engine, projector, API) writes this once when it is ready to serve."""
SERVICE_BEAT_S: Final = 1.0
"""How often a service writes a beat after `READY` (the supervisor waits
`supervisor.service_liveness_timeout_s` before it calls a silent one hung)."""


class LivenessPipe:
    """The supervisor's end: `child_fd` goes to the child, each byte read calls `on_beat`."""

    def __init__(self) -> None:
        self._read_fd, self.child_fd = os.pipe()
        os.set_blocking(self._read_fd, False)
        self._reading = False

    def env(self) -> dict[str, str]:
        return {LIVENESS_FD_ENV: str(self.child_fd)}

    def listen(self, on_beat: Callable[[], None]) -> None:
        """Close our copy of the child's end (it has its own now) and read beats."""
        self.listen_bytes(lambda _: on_beat())

    def listen_bytes(self, on_data: Callable[[bytes], None]) -> None:
        """As `listen`, with what was read (beats and the ready byte)."""
        self._close_child_end()
        loop = asyncio.get_running_loop()

        def readable() -> None:
            try:
                data = os.read(self._read_fd, 4096)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:  # the child exited (or closed its end)
                self.close()
                return
            on_data(data)

        loop.add_reader(self._read_fd, readable)
        self._reading = True

    def close(self) -> None:
        self._close_child_end()
        if self._read_fd < 0:
            return
        if self._reading:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._read_fd)
            self._reading = False
        with contextlib.suppress(OSError):
            os.close(self._read_fd)
        self._read_fd = -1

    def _close_child_end(self) -> None:
        if self.child_fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.child_fd)
            self.child_fd = -1


def liveness_fd(environ: Mapping[str, str] | None = None) -> int | None:
    """The pipe the supervisor gave this process, or None when it runs on its own."""
    found = (os.environ if environ is None else environ).get(LIVENESS_FD_ENV, "")
    return int(found) if found.isdigit() else None


_beating: set[asyncio.Task[None]] = set()
"""The beat task, kept (also once done) so that the pipe is never signalled twice."""


def signal_ready(fd: int | None = None, *, beat_s: float = SERVICE_BEAT_S) -> None:
    """Tell the supervisor this service is ready (nothing when it runs on its own).

    Called from a running event loop, it then beats on the pipe every `beat_s` from that
    loop for the rest of the process's life: a loop that blocks, or a process that is
    stopped, falls silent and is restarted as hung. Once per process.
    """
    target = liveness_fd() if fd is None else fd
    if target is None or _beating:
        return
    with contextlib.suppress(OSError):
        os.write(target, READY)
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    beats = send_liveness(beat_s, asyncio.Event(), target)
    _beating.add(loop.create_task(beats, name="liveness"))


async def send_liveness(interval_s: float, stop: asyncio.Event, fd: int | None = None) -> None:
    """Write a beat every `interval_s` until `stop` (or until the supervisor's end closes)."""
    target = liveness_fd() if fd is None else fd
    if target is None:
        return
    os.set_blocking(target, False)
    try:
        while not stop.is_set():
            try:
                os.write(target, BEAT)
            except BlockingIOError:
                pass  # the supervisor is not reading right now: the pipe holds enough
            except OSError:
                return  # the supervisor is gone
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval_s)
    finally:
        with contextlib.suppress(OSError):
            os.close(target)
