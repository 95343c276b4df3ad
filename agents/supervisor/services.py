"""The engine, projector and API as supervised child processes (`mtq up`).

A `ServiceRunner` keeps one `mtq <part> run` process going: it starts it, waits until the
child says it is ready (a `R` byte on its liveness pipe), restarts it with backoff when it
exits unasked, and stops it with SIGTERM, then SIGKILL after the stop timeout. The child's
output goes to `DATA/logs/<key>.log`, and each line also to `on_line` (the console).

After `R` the child beats on that pipe every second from its event loop. A pipe silent for
`liveness_timeout_s` (a blocked loop, a stopped or hung process) is a hung child: it is
killed like a stop and restarted with the same backoff as an exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any, Final, Literal

from agents.supervisor.liveness import READY, LivenessPipe
from bus.backoff import Backoff
from bus.embedded import _pdeathsig_hook
from bus.keeper import describe_exit
from bus.schemas.base import utc_now

log = logging.getLogger(__name__)

ServiceState = Literal["CREATED", "STARTING", "RUNNING", "RESTARTING", "STOPPING", "STOPPED"]
SERVICE_BACKOFF: Final = Backoff(initial_s=0.5, factor=2.0, max_s=30.0)
"""A crashed engine, projector or API is back within a second; repeated crashes slow down."""
HEALTHY_RESET_S: Final = 60.0
"""Up this long after a restart: the next crash starts the backoff again from its start."""
STOP_TIMEOUT_S: Final = 20.0
LIVENESS_TIMEOUT_S: Final = 30.0
"""The default of `supervisor.service_liveness_timeout_s`."""


class ServiceFailed(RuntimeError):
    """The child exited before it was ready on its first start: it cannot run at all."""


@dataclass(frozen=True)
class ServiceSpec:
    """What to run: `name` as the console says it, `key` for the log file."""

    name: str
    key: str
    command: tuple[str, ...]
    env: dict[str, str]
    pass_fds: tuple[int, ...] = ()
    log_dir: Path | None = None
    backoff: Backoff = SERVICE_BACKOFF
    stop_timeout_s: float = STOP_TIMEOUT_S
    liveness_timeout_s: float = LIVENESS_TIMEOUT_S


@dataclass
class ServiceRunner:
    """Keeps one service process running; `status()` is what `mtq status` shows."""

    spec: ServiceSpec
    on_line: Callable[[str], None] | None = None
    state: ServiceState = "CREATED"
    pid: int | None = None
    restart_count: int = 0
    last_exit: str | None = None
    next_restart_at: datetime | None = None
    started_at: datetime | None = None
    _proc: asyncio.subprocess.Process | None = field(default=None, init=False)
    _pipe: LivenessPipe | None = field(default=None, init=False)
    _ready: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    _stopping: bool = field(default=False, init=False)
    _task: asyncio.Task[None] | None = field(default=None, init=False)
    _up_since: float = field(default=0.0, init=False)
    _output: asyncio.Task[None] | None = field(default=None, init=False)
    _alive_at: float = field(default=0.0, init=False)

    @property
    def name(self) -> str:
        return self.spec.name

    async def start(self) -> None:
        """Start the child and wait until it is ready; ServiceFailed if it exits first."""
        self._stopping = False
        exited = await self._spawn_until_ready("started")
        if exited is not None:
            self.state = "STOPPED"
            raise ServiceFailed(f"{self.name} {exited} before it was ready (see its log)")
        self._task = asyncio.create_task(self._keep_running(), name=f"keep-{self.spec.key}")

    async def stop(self) -> None:
        """SIGTERM, then SIGKILL after the stop timeout; no restart after this."""
        self._stopping = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        proc = self._proc
        if proc is not None and proc.returncode is None:
            self.state = "STOPPING"
            await self._terminate(proc)
            self.last_exit = describe_exit(proc.returncode or 0)
        if self._output is not None:
            await asyncio.wait({self._output}, timeout=2.0)  # the last lines reach the console
        self._forget()
        self.state = "STOPPED"
        self.next_restart_at = None

    def status(self) -> dict[str, Any]:
        return {
            "service": self.spec.key,
            "name": self.name,
            "state": self.state,
            "pid": self.pid,
            "restart_count": self.restart_count,
            "last_exit": self.last_exit,
            "next_restart_at": self.next_restart_at.isoformat() if self.next_restart_at else None,
            "since": self.started_at.isoformat(timespec="seconds") if self.started_at else None,
            "alive_age_s": self.alive_age_s(),
        }

    def alive_age_s(self) -> float | None:
        """Seconds since the running child's last byte on its liveness pipe."""
        if self.state != "RUNNING" or self._proc is None:
            return None
        return round(time.monotonic() - self._alive_at, 3)

    # --- internals ---------------------------------------------------------------

    async def _keep_running(self) -> None:
        while True:
            proc = self._proc
            assert proc is not None
            ended = await self._until_exit_or_hung(proc)
            self._forget()
            if self._stopping:
                return
            self.last_exit = ended
            if time.monotonic() - self._up_since >= HEALTHY_RESET_S:
                self.restart_count = 0
            delay = self.spec.backoff.delay(self.restart_count)
            self.restart_count += 1
            self.state = "RESTARTING"
            self.next_restart_at = utc_now() + timedelta(seconds=delay)
            log.warning(
                "%s: %s; restart %d in %gs", self.name, self.last_exit, self.restart_count, delay
            )
            await asyncio.sleep(delay)
            self.next_restart_at = None
            exited = await self._spawn_until_ready(f"restarted ({self.restart_count})")
            if exited is not None:
                log.warning("%s: %s before it was ready", self.name, exited)

    async def _until_exit_or_hung(self, proc: asyncio.subprocess.Process) -> str:
        """How the child ended: its exit, or killed here after its pipe fell silent."""
        exiting = asyncio.ensure_future(proc.wait())
        hanging = asyncio.ensure_future(self._until_silent())
        try:
            await asyncio.wait({exiting, hanging}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            exiting.cancel()
            hanging.cancel()
        if not hanging.done() or hanging.cancelled() or proc.returncode is not None:
            return describe_exit(await proc.wait())
        silence = hanging.result()
        log.warning(
            "%s: unresponsive: no sign of life on its pipe for %.0f s (pid %d); killing it",
            self.name,
            silence,
            proc.pid,
        )
        killed = await self._terminate(proc)
        after = f", {describe_exit(proc.returncode or 0)} after stop timeout" if killed else ""
        return f"unresponsive: no sign of life for {silence:.0f} s; killed by the supervisor{after}"

    async def _until_silent(self) -> float:
        """Returns (the silence in seconds) once the pipe was silent for the timeout."""
        timeout = self.spec.liveness_timeout_s
        while True:
            silence = time.monotonic() - self._alive_at
            if silence >= timeout:
                return silence
            await asyncio.sleep(min(timeout - silence + 0.05, 1.0))

    async def _terminate(self, proc: asyncio.subprocess.Process) -> bool:
        """SIGTERM, then SIGKILL after the stop timeout; True when it had to be killed.

        A stopped child (SIGSTOP) is continued after the SIGTERM, so it can stop cleanly."""
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
            if sys.platform != "win32":
                proc.send_signal(signal.SIGCONT)
        try:
            await asyncio.wait_for(proc.wait(), self.spec.stop_timeout_s)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            return True
        return False

    async def _spawn_until_ready(self, how: str) -> str | None:
        """Spawn and wait for ready; None when ready, else how it exited first."""
        self.state = "STARTING"
        proc = await self._spawn()
        waiting = asyncio.ensure_future(self._ready.wait())
        exiting = asyncio.ensure_future(proc.wait())
        await asyncio.wait({waiting, exiting}, return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()
        exiting.cancel()
        if not self._ready.is_set():
            code = await proc.wait()
            return describe_exit(code)
        self.state = "RUNNING"
        self._up_since = self._alive_at = time.monotonic()
        self.started_at = utc_now()
        log.info("%s: %s, pid %d", self.name, how, proc.pid)
        return None

    async def _spawn(self) -> asyncio.subprocess.Process:
        self._ready = asyncio.Event()
        pipe = LivenessPipe()
        ready = self._ready

        def on_byte(data: bytes) -> None:
            self._alive_at = time.monotonic()
            if READY in data:
                ready.set()

        options: dict[str, Any] = {}
        if sys.platform != "win32":
            options["start_new_session"] = True  # a Ctrl-C reaches `mtq up` only
        try:
            proc = await asyncio.create_subprocess_exec(
                *self.spec.command,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                env={**self.spec.env, **pipe.env(), "PYTHONUNBUFFERED": "1"},
                pass_fds=(pipe.child_fd, *self.spec.pass_fds),
                preexec_fn=_pdeathsig_hook(),  # one system call: safe with threads
                **options,
            )
        except BaseException:
            pipe.close()
            raise
        pipe.listen_bytes(on_byte)
        self._pipe = pipe
        self._proc = proc
        self.pid = proc.pid
        assert proc.stdout is not None
        self._output = asyncio.create_task(
            self._copy_output(proc.stdout), name=f"{self.spec.key}-output"
        )
        return proc

    async def _copy_output(self, stream: asyncio.StreamReader) -> None:
        sink: IO[bytes] | None = None
        if self.spec.log_dir is not None:
            self.spec.log_dir.mkdir(parents=True, exist_ok=True)
            sink = (self.spec.log_dir / f"{self.spec.key}.log").open("ab")
        try:
            while line := await stream.readline():
                if sink is not None:  # the child's lines are plain: stamp them here
                    sink.write(f"{utc_now().isoformat(timespec='milliseconds')} ".encode() + line)
                    sink.flush()
                text = line.decode(errors="replace").rstrip()
                if text and self.on_line is not None:
                    self.on_line(text)
        finally:
            if sink is not None:
                sink.close()

    def _forget(self) -> None:
        if self._pipe is not None:
            self._pipe.close()
            self._pipe = None
        self._proc = None
        self.pid = None


def service_command(part: str, *args: str) -> tuple[str, ...]:
    """`python -m mtq <part> run ARGS...` on this interpreter."""
    return (sys.executable, "-m", "mtq", part, "run", *args)


def config_args(config_paths: Sequence[str | Path], nats_url: str, data_dir: Path) -> list[str]:
    args: list[str] = []
    for path in config_paths:
        args += ["--config", str(path)]
    return [*args, "--nats-url", nats_url, "--data", str(data_dir)]
