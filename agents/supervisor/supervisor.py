"""The supervisor: one agent process per account, health from heartbeats, restarts, service."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import NoRespondersError
from nats.js.errors import APIError
from nats.micro.service import Service

from agents.supervisor.bus_watch import BusSignals, BusWatch
from agents.supervisor.errors import UnknownAccount
from agents.supervisor.lifecycle import LifecyclePublisher
from agents.supervisor.policy import RestartPolicy
from agents.supervisor.process import agent_command
from agents.supervisor.runner import AgentRunner
from agents.supervisor.service import add_agents_service
from agents.supervisor.services import ServiceRunner
from agents.supervisor.validation import validate_accounts
from bus import subjects
from bus.codec import DecodeError, decode_fact
from bus.schemas import AgentHeartbeat
from config import AccountConfig, MtqConfig

log = logging.getLogger(__name__)

HEALTH_WILDCARD = subjects.HEALTH_ANY
PING_TIMEOUT_S = 5.0
PING_EVERY_S = 0.5
BUS_SILENCE_MIN_S = 1.5
"""Unanswered pings count as a bus problem after half the heartbeat timeout, at least this."""

CommandFactory = Callable[[str], Sequence[str]]
AgentEnv = Callable[[str], dict[str, str]]


class Supervisor:
    """Runs one agent per account on a connected NATS client; start() then stop()."""

    def __init__(
        self,
        config: MtqConfig,
        nc: Client,
        *,
        config_paths: Sequence[str | Path],
        nats_url: str,
        data_dir: Path,
        policy: RestartPolicy | None = None,
        command_factory: CommandFactory | None = None,
        log_dir: Path | None = None,
        serve: bool = True,
        agent_env: AgentEnv | None = None,
        services: Sequence[ServiceRunner] = (),
    ) -> None:
        """`agent_env(account_id)`: extra environment of that account's agent process,
        e.g. `agent_credentials_env` for its own NATS identity (default: the supervisor's).
        `services`: the engine, projector and API runners `mtq up` keeps (listed, not run)."""
        self.config = config
        self.config_paths = [str(p) for p in config_paths]
        self.policy = policy or RestartPolicy.from_config(config.supervisor)
        self._nc = nc
        self._serve = serve
        self._publisher = LifecyclePublisher(nc.jetstream())
        make_command = command_factory or (
            lambda account_id: agent_command(
                account_id, config_paths=self.config_paths, nats_url=nats_url, data_dir=data_dir
            )
        )
        logs = log_dir if log_dir is not None else data_dir / "logs"

        def make_runner(account: AccountConfig) -> AgentRunner:
            return AgentRunner(
                account,
                command=make_command(account.id),
                policy=self.policy,
                publisher=self._publisher,
                log_path=logs / f"agent-{account.id}.log",
                pid_dir=data_dir / "run",
                env=agent_env(account.id) if agent_env is not None else None,
            )

        self._make_runner = make_runner
        self.runners: dict[str, AgentRunner] = {a.id: make_runner(a) for a in config.accounts}
        self._sub: Subscription | None = None
        self._loop_task: asyncio.Task[None] | None = None
        self._ping_task: asyncio.Task[None] | None = None
        self._service: Service | None = None
        self.bad_heartbeats = 0
        self.services = list(services)
        self.bus = BusWatch(silence_s=max(self.policy.heartbeat_timeout_s / 2, BUS_SILENCE_MIN_S))
        self._unanswered_since: float | None = None

    # --- lifecycle ---------------------------------------------------------------

    async def start(self) -> None:
        """Subscribe to heartbeats, start every enabled agent and the `mtq-agents` service."""
        self._publisher.start()
        self._sub = await self._nc.subscribe(HEALTH_WILDCARD, cb=self._on_health)
        await asyncio.gather(
            *(r.start("supervisor started") for r in self.runners.values() if r.account.enabled)
        )
        self._ping_task = asyncio.create_task(self._ping_loop(), name="supervisor-ping")
        self._loop_task = asyncio.create_task(self._check_loop(), name="supervisor-health")
        if self._serve:
            self._service = await add_agents_service(self._nc, self)

    async def stop(self) -> None:
        """Stop the service and every agent (SIGTERM, timeout, kill); flush lifecycle events."""
        if self._service is not None:
            with contextlib.suppress(Exception):
                await self._service.stop()
            self._service = None
        for task in (self._loop_task, self._ping_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._loop_task = self._ping_task = None
        await asyncio.gather(*(r.close() for r in self.runners.values()))
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None
        await self._publisher.close()

    async def reconfigure(self, config: MtqConfig) -> tuple[list[str], list[str]]:
        """A reloaded config: agents of added (or newly enabled) accounts start, those of
        removed (or disabled) ones stop gracefully; (started, stopped). An agent whose
        account stays is left running (it reads its own settings when it starts)."""
        wanted = {a.id: a for a in config.accounts}
        stopped = [
            account_id
            for account_id, runner in self.runners.items()
            if runner.account.enabled
            and (account_id not in wanted or not wanted[account_id].enabled)
        ]
        await asyncio.gather(*(self.runners[a].stop("removed from the config") for a in stopped))
        for account_id in [a for a in self.runners if a not in wanted]:
            await self.runners.pop(account_id).close()
        started = [
            a.id
            for a in config.accounts
            if a.enabled and (a.id not in self.runners or not self.runners[a.id].account.enabled)
        ]
        for account in config.accounts:
            if account.id in started or account.id not in self.runners:
                old = self.runners.get(account.id)
                if old is not None:
                    await old.close()
                self.runners[account.id] = self._make_runner(account)
        self.config = config
        await asyncio.gather(*(self.runners[a].start("added to the config") for a in started))
        return started, stopped

    # --- operations (the service calls these) ------------------------------------

    def runner(self, account_id: str) -> AgentRunner:
        try:
            return self.runners[account_id]
        except KeyError:
            raise UnknownAccount(account_id) from None

    def select(self, account_id: str | None) -> list[AgentRunner]:
        """One runner, or all of them when `account_id` is None."""
        if account_id is None:
            return list(self.runners.values())
        return [self.runner(account_id)]

    async def start_agents(self, account_id: str | None = None) -> list[dict[str, Any]]:
        """Start one agent (or all enabled ones) now, cancelling any pending backoff."""
        runners = self.select(account_id)
        if account_id is None:
            runners = [r for r in runners if r.account.enabled]
        await asyncio.gather(*(r.start("start requested") for r in runners))
        return [r.status() for r in runners]

    async def stop_agents(self, account_id: str | None = None) -> list[dict[str, Any]]:
        runners = self.select(account_id)
        await asyncio.gather(*(r.stop("stop requested") for r in runners))
        return [r.status() for r in runners]

    async def restart_agents(self, account_id: str | None = None) -> list[dict[str, Any]]:
        runners = self.select(account_id)
        if account_id is None:
            runners = [r for r in runners if r.account.enabled]
        await asyncio.gather(*(r.restart("restart requested") for r in runners))
        return [r.status() for r in runners]

    def list_agents(self, account_id: str | None = None) -> list[dict[str, Any]]:
        return [r.status() for r in self.select(account_id)]

    def list_services(self) -> list[dict[str, Any]]:
        """The service processes `mtq up` runs beside the agents (none under `supervisor run`)."""
        return [service.status() for service in self.services]

    def bus_status(self) -> dict[str, Any]:
        """Whether the bus answers, and the bus problems seen (each counted once)."""
        return self.bus.as_json()

    def validate(self, account_id: str | None = None) -> dict[str, Any]:
        """Validate the supervisor's config files (as they are on disk now)."""
        if account_id is not None:
            self.runner(account_id)
        return validate_accounts(self.config_paths, account_id)

    # --- internals ---------------------------------------------------------------

    async def _on_health(self, msg: Msg) -> None:
        try:
            fact = decode_fact(msg.subject, msg.data)
        except DecodeError as exc:
            # Not dead-lettered here: the MT5 stream keeps the message and its durable
            # consumers dead-letter it once; the supervisor only listens.
            self.bad_heartbeats += 1
            log.warning("ignoring malformed heartbeat: %s", exc)
            return
        if not isinstance(fact, AgentHeartbeat):
            return
        runner = self.runners.get(fact.account_id)
        if runner is not None:
            runner.on_heartbeat(fact)

    async def _ping_loop(self) -> None:
        """Ask nats-server something on our own connection: a frozen server answers nothing.

        A request (stream info), not `flush()`: nats-py's flush leaves a cancelled future
        behind on timeout, and the late PONG then breaks the connection's read loop.
        """
        js = self._nc.jetstream(timeout=PING_TIMEOUT_S)
        while True:
            if self._unanswered_since is None:
                self._unanswered_since = time.monotonic()
            try:
                await js.stream_info(subjects.STREAM_FACTS)
            except (APIError, NoRespondersError):
                pass  # an error reply is still an answer: the server is there
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - unanswered: the check loop judges
                await asyncio.sleep(self.policy.check_interval_s)
                continue
            self._unanswered_since = None
            await asyncio.sleep(max(self.policy.check_interval_s, PING_EVERY_S))

    def _bus_signals(self, now: float) -> BusSignals:
        silences = [r.heartbeat_silent() for r in self.runners.values()]
        judged = [s for s in silences if s is not None]
        since = self._unanswered_since
        return BusSignals(
            connected=self._nc.is_connected,
            unanswered_s=0.0 if since is None else now - since,
            agents_alive=len(judged),
            agents_silent=sum(judged),
        )

    async def _check_loop(self) -> None:
        while True:
            await asyncio.sleep(self.policy.check_interval_s)
            now = time.monotonic()
            if self.bus.observe(self._bus_signals(now), now):
                for runner in self.runners.values():
                    runner.excuse_silence()
            for runner in self.runners.values():
                try:
                    runner.check(bus_ok=self.bus.ok)
                except Exception:
                    log.exception("%s: health check failed", runner.account_id)
