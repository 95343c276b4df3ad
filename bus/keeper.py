"""Keep an embedded nats-server running: restart it on the same store and port with backoff."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bus.backoff import Backoff
from bus.embedded import EmbeddedNatsServer, EmbeddedServerError

Say = Callable[[str], None]
OnRestart = Callable[[], Awaitable[None]]


def describe_exit(returncode: int | None) -> str:
    """'exited with code 1' or 'killed by SIGKILL'."""
    if returncode is None:
        return "stopped"
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exited with code {returncode}"


@dataclass(frozen=True)
class KeeperPolicy:
    """Restart delays double from `initial_delay_s` up to `max_delay_s`.

    The keeper gives up after `max_failures` restarts in a row that did not stay up for
    `stable_after_s` (a start that fails counts as one).
    """

    initial_delay_s: float = 0.5
    max_delay_s: float = 8.0
    max_failures: int = 5
    stable_after_s: float = 30.0
    poll_interval_s: float = 0.2

    def delay(self, failures: int) -> float:
        return Backoff(self.initial_delay_s, 2.0, self.max_delay_s).delay(max(failures - 1, 0))


class GaveUp(RuntimeError):
    """The server kept failing; the message says how often and why."""


class ServerKeeper:
    """Watches a started `EmbeddedNatsServer` and restarts it when it dies.

    `run()` returns when `stop()` is called and raises `GaveUp` after too many failures in
    a row. Every restart is one line through `say`. `on_restart` runs after each restart
    (e.g. provisioning again the memory-storage stream a restart loses, as admin: the
    components' own identities may not create streams).
    """

    def __init__(
        self,
        server: EmbeddedNatsServer,
        *,
        say: Say,
        policy: KeeperPolicy | None = None,
        on_restart: OnRestart | None = None,
    ) -> None:
        self.server = server
        self.policy = policy or KeeperPolicy()
        self._say = say
        self._on_restart = on_restart
        self._stopping = asyncio.Event()
        self.restarts = 0

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        failures = 0
        up_since = time.monotonic()
        what = ""  # why the server is down, when a restart attempt failed
        while not self._stopping.is_set():
            if self.server.running():
                if failures and time.monotonic() - up_since >= self.policy.stable_after_s:
                    failures = 0
                await self._sleep(self.policy.poll_interval_s)
                continue
            what = (
                what
                or f"nats-server (pid {self.server.pid}) {describe_exit(self.server.returncode)}"
            )
            failures += 1
            if failures > self.policy.max_failures:
                raise GaveUp(
                    f"{what}; {failures - 1} restarts in a row failed, giving up "
                    f"(see {self.server.log_path})"
                )
            delay = self.policy.delay(failures)
            self._say(
                f"{what}; restarting it on {self.server.url} in {delay:g}s "
                f"(attempt {failures} of {self.policy.max_failures})"
            )
            if await self._sleep(delay):
                return
            try:
                await self.server.start_async()
            except EmbeddedServerError as exc:
                what = f"nats-server restart failed: {str(exc).splitlines()[0]}"
                continue
            what = ""
            self.restarts += 1
            up_since = time.monotonic()
            self._say(f"nats-server back on {self.server.url} (pid {self.server.pid})")
            await self._after_restart()

    async def _after_restart(self) -> None:
        if self._on_restart is None:
            return
        try:
            await self._on_restart()
        except Exception as exc:  # noqa: BLE001 - the server is up; components retry themselves
            self._say(f"after the nats-server restart: {str(exc).splitlines()[0]}")

    async def _sleep(self, seconds: float) -> bool:
        """Sleep; True if `stop()` was called meanwhile."""
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except TimeoutError:
            return False
        return True
