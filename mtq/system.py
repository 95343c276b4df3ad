"""The parts `mtq up` runs side by side, started in order and stopped in reverse.

A part is anything with a `name`, `async start()`, `async stop()` and a `done` future that
completes (with an exception) if the part fails for good; `run_parts` stops everything
when one does. Adding a part to `mtq up` is one more entry in its list.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

from nats.aio.client import Client

from agents.supervisor import Supervisor, build_supervisor
from agents.supervisor.process import credentials_env
from agents.supervisor.services import ServiceFailed, ServiceRunner
from bus.connection import connect, settings_from_env
from bus.embedded import EmbeddedNatsServer
from bus.keeper import OnRestart, ServerKeeper
from bus.security import identities
from bus.security.authdir import AuthDir
from bus.security.client import ClientAuth, TlsFiles
from config import MtqConfig

Say = Callable[[str], None]


class Part(Protocol):
    @property
    def name(self) -> str: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    @property
    def done(self) -> asyncio.Future[None]:
        """Completes (usually with an exception) when the part can no longer run."""
        ...


class PartFailed(RuntimeError):
    """A part failed for good; the message names it and says why."""


async def run_parts(parts: Sequence[Part], stop: asyncio.Event, say: Say) -> None:
    """Start `parts` in order, wait for `stop` or a failed part, stop them in reverse."""
    started: list[Part] = []
    failure: BaseException | None = None
    try:
        for part in parts:
            if not await _start_unless_stopped(part, stop):
                started.append(part)  # half started: its stop() ends what did start
                break
            started.append(part)
            say(f"{part.name}: running")
        stopping = asyncio.ensure_future(stop.wait())
        watched = {asyncio.ensure_future(_watch(p)): p for p in started}
        done, _ = await asyncio.wait({stopping, *watched}, return_when=asyncio.FIRST_COMPLETED)
        for task in [stopping, *watched]:
            task.cancel()
        for task in done:
            if task is not stopping and not task.cancelled() and task.exception() is not None:
                failure = task.exception()
    finally:
        for part in reversed(started):
            say(f"{part.name}: stopping")
            try:
                await part.stop()
            except Exception as exc:  # noqa: BLE001 - stop the others whatever happens
                say(f"{part.name}: stop failed: {exc}")
            say(f"{part.name}: stopped")
    if failure is not None:
        raise PartFailed(str(failure)) from failure


async def _start_unless_stopped(part: Part, stop: asyncio.Event) -> bool:
    """Start `part`; False (and the start cancelled) if `stop` is set first (a Ctrl-C)."""
    starting = asyncio.ensure_future(part.start())
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if not starting.done():
        starting.cancel()
        await asyncio.wait({starting})
        return False
    starting.result()  # raises why the part could not start
    return True


async def _watch(part: Part) -> None:
    await asyncio.shield(part.done)  # cancelling the watch must not cancel the part
    raise PartFailed(f"{part.name} ended")


@dataclass(frozen=True)
class Identities:
    """As whom each part of `mtq up` connects: its own credentials, or (open mode) none.

    `tls`: the CA clients trust (the server's certificate and key stay with the server).
    """

    auth_dir: AuthDir | None = None
    tls: TlsFiles | None = None

    @property
    def secured(self) -> bool:
        return self.auth_dir is not None

    def auth(self, identity: str) -> ClientAuth:
        """The credentials of `identity` (`admin`, `engine`, …) plus the TLS trust."""
        trust = TlsFiles(ca=self.tls.ca) if self.tls is not None else None
        if self.auth_dir is None:
            return ClientAuth(tls=trust)
        return ClientAuth(creds_file=str(self.auth_dir.creds(identity)), tls=trust)

    def agent_env(self, account_id: str) -> dict[str, str]:
        """The environment that gives an agent process its own identity."""
        creds = self.auth_dir.agent_creds(account_id) if self.auth_dir is not None else None
        return credentials_env(creds, self.tls)

    def service_env(self, identity: str) -> dict[str, str]:
        """The environment that gives a service process (`engine`, …) its own identity."""
        creds = self.auth_dir.creds(identity) if self.auth_dir is not None else None
        return credentials_env(creds, self.tls)


@dataclass
class ServerPart:
    """Keeps the embedded nats-server running (it is started before any part)."""

    server: EmbeddedNatsServer
    say: Say
    name: str = "nats-server watch"
    on_restart: OnRestart | None = None
    _keeper: ServerKeeper | None = field(default=None, init=False)
    _task: asyncio.Task[None] | None = field(default=None, init=False)

    async def start(self) -> None:
        self._keeper = ServerKeeper(self.server, say=self.say, on_restart=self.on_restart)
        self._task = asyncio.create_task(self._keeper.run(), name="nats-server-keeper")

    @property
    def done(self) -> asyncio.Future[None]:
        assert self._task is not None
        return self._task

    async def stop(self) -> None:
        if self._keeper is not None and self._task is not None:
            self._keeper.stop()
            await asyncio.wait({self._task})


@dataclass
class SupervisorPart:
    """The agent supervisor and its `mtq-agents` service, on a connection of its own."""

    config: MtqConfig
    config_paths: Sequence[Path]
    nats_url: str
    data_dir: Path
    identities: Identities = field(default_factory=Identities)
    services: Sequence[ServiceRunner] = ()
    name: str = "supervisor"
    _nc: Client | None = field(default=None, init=False)
    _supervisor: Supervisor | None = field(default=None, init=False)
    _done: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future(), init=False
    )

    async def start(self) -> None:
        auth = self.identities.auth(identities.SUPERVISOR)
        self._nc = await connect(settings_from_env(self.nats_url, name="mtq-supervisor", auth=auth))
        self._supervisor = build_supervisor(
            self.config,
            self._nc,
            config_paths=self.config_paths,
            nats_url=self.nats_url,
            data_dir=self.data_dir,
            agent_env=self.identities.agent_env,
            services=self.services,
        )
        await self._supervisor.start()

    @property
    def done(self) -> asyncio.Future[None]:
        return self._done

    async def reconfigure(self, config: MtqConfig) -> tuple[list[str], list[str]]:
        """A reloaded config: (agents started, agents stopped); nothing before start."""
        self.config = config
        if self._supervisor is None:
            return [], []
        return await self._supervisor.reconfigure(config)

    async def stop(self) -> None:
        try:
            if self._supervisor is not None:
                await self._supervisor.stop()
        finally:
            if self._nc is not None:
                with contextlib.suppress(Exception):
                    await self._nc.drain()


@dataclass
class ServicePart:
    """The engine, projector or API as a supervised child process (`ServiceRunner`)."""

    runner: ServiceRunner

    @property
    def name(self) -> str:
        return self.runner.name

    async def start(self) -> None:
        try:
            await self.runner.start()
        except ServiceFailed as exc:
            raise PartFailed(str(exc)) from None

    @property
    def done(self) -> asyncio.Future[None]:
        """Never completes: a crashed child is restarted with backoff, not given up."""
        return self._forever

    async def stop(self) -> None:
        await self.runner.stop()

    def __post_init__(self) -> None:
        self._forever: asyncio.Future[None] = asyncio.get_running_loop().create_future()


class ConsoleLog(logging.Handler):
    """Lifecycle log records as `HH:MM:SS message` lines on the `mtq up` console."""

    def __init__(self, say: Say) -> None:
        super().__init__()
        self._say = say

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._say(record.getMessage())
        except Exception:  # noqa: BLE001 - logging must never break the caller
            self.handleError(record)


def stamped(print_line: Callable[[str], None]) -> Say:
    """A `say` that prefixes the local time."""

    def say(text: str) -> None:
        print_line(f"{datetime.now().strftime('%H:%M:%S')} {text}")

    return say


def show_lifecycle(say: Say) -> ConsoleLog:
    """Send the supervisor's lifecycle lines and NATS outages to the console; return the handler."""
    handler = ConsoleLog(say)
    handler.setLevel(logging.INFO)
    loggers = (("agents.supervisor", logging.INFO), ("engine", logging.WARNING),
               ("mtq.http", logging.WARNING), ("bus", logging.WARNING))  # fmt: skip
    for name, level in loggers:
        logger = logging.getLogger(name)
        logger.setLevel(level)
        logger.addHandler(handler)
        logger.propagate = False
    return handler
