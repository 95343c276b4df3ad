"""One account's agent: its process, lifecycle state, health and restart schedule."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from agents.supervisor.health import (
    BUS_UNREACHABLE,
    UNKNOWN,
    Health,
    HealthReport,
    derive_health,
    liveness_report,
)
from agents.supervisor.lifecycle import LifecyclePublisher
from agents.supervisor.liveness import LivenessPipe
from agents.supervisor.pidfile import PidFile
from agents.supervisor.policy import RestartPolicy
from agents.supervisor.process import AgentProcess, agent_environment
from bus.keeper import describe_exit
from bus.schemas import AgentHeartbeat, AgentLifecycleChanged
from bus.schemas.base import LifecycleState, utc_now
from config import AccountConfig

log = logging.getLogger(__name__)

Clock = Callable[[], float]
ACTIVE_STATES: frozenset[LifecycleState] = frozenset({"STARTING", "RUNNING"})


class AgentRunner:
    """Keeps one agent process running as the policy says; every change is a lifecycle fact.

    Operations take a lock, so a crash noticed while an operator stops the agent cannot
    start a second process. Heartbeats from another pid (an old process) are ignored.
    Whether the process is alive is told by its liveness pipe, not by the bus: only a
    silent pipe gets it restarted as unresponsive.
    """

    def __init__(
        self,
        account: AccountConfig,
        *,
        command: Sequence[str],
        policy: RestartPolicy,
        publisher: LifecyclePublisher,
        log_path: Path | None = None,
        pid_dir: Path | None = None,
        clock: Clock = time.monotonic,
        env: dict[str, str] | None = None,
    ) -> None:
        """`env`: the agent's own NATS identity (`credentials_env`); its environment is
        that plus the basics (`agent_environment`), nothing else of the supervisor's."""
        self.account = account
        self.account_id = account.id
        self.agent_id = f"agent-{account.id}"
        self._command = list(command)
        self._policy = policy
        self._publisher = publisher
        self._log_path = log_path
        self._env = agent_environment(account, env)
        self._pidfile = PidFile(pid_dir, account.id) if pid_dir is not None else None
        self._checked_leftover = False
        self._clock = clock
        self._lock = asyncio.Lock()
        self._proc: AgentProcess | None = None
        self._expected_exit = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._timer: asyncio.Task[None] | None = None
        self._recovering = False

        self.state: LifecycleState = "CREATED"
        self.restart_count = 0
        self.next_restart_at: datetime | None = None
        self.last_exit: str | None = None
        self.health: HealthReport = UNKNOWN
        self.heartbeat: AgentHeartbeat | None = None
        self._received_at: float | None = None
        self._started_at = 0.0
        self._unhealthy_since: float | None = None
        self._healthy_since: float | None = None
        self._grace_from = 0.0
        self._alive_at: float | None = None
        self._pipe: LivenessPipe | None = None
        self._bus_ok = True

    # --- operations ----------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def alive(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    async def start(self, reason: str) -> None:
        """Start the agent now unless it is running; cancels a pending automatic restart."""
        async with self._lock:
            self._cancel_timer()
            if self.alive():
                return
            await self._spawn(reason)

    async def stop(self, reason: str) -> None:
        """Stop the agent gracefully and keep it stopped."""
        async with self._lock:
            self._cancel_timer()
            if self.alive():
                await self._terminate(reason)
            elif self.state not in ("STOPPED", "CREATED"):
                self.next_restart_at = None
                self._transition("STOPPED", reason)

    async def restart(self, reason: str) -> None:
        """Stop (if running) and start at once, without backoff."""
        async with self._lock:
            self._cancel_timer()
            if self.alive():
                await self._terminate(reason)
            await self._spawn(reason)

    async def close(self) -> None:
        """Stop the agent and every background task of this runner."""
        await self.stop("supervisor shutting down")
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # --- inputs ----------------------------------------------------------------------

    def on_heartbeat(self, heartbeat: AgentHeartbeat) -> bool:
        """Record a heartbeat from the current process; False if it is from another pid."""
        if self._proc is None or heartbeat.pid != self._proc.pid:
            return False
        self.heartbeat = heartbeat
        self.agent_id = heartbeat.agent_id or self.agent_id
        self._received_at = self._clock()
        if self.state == "STARTING":
            self._transition("RUNNING", "first heartbeat received")
        self._update_health()
        return True

    def on_alive(self) -> None:
        """A sign of life arrived on the process's liveness pipe."""
        self._alive_at = self._clock()

    def excuse_silence(self) -> None:
        """Count heartbeat silence from now: the supervisor itself could not hear (NATS down)."""
        self._grace_from = self._clock()
        self._unhealthy_since = None

    def heartbeat_silent(self) -> bool | None:
        """Whether no heartbeat reached us for the heartbeat timeout; None when the process
        is not running or not alive on its pipe (its silence says nothing about the bus)."""
        if self.state not in ACTIVE_STATES or not self.alive() or self.health.process_hung:
            return None
        heard = self._started_at if self._received_at is None else self._received_at
        silent = self._clock() - max(heard, self._grace_from)
        return silent > self._policy.heartbeat_timeout_s

    def check(self, *, bus_ok: bool = True) -> None:
        """Re-derive health; reset the restart counter or recover a broken agent if due.

        With `bus_ok=False` (the bus is not answering) heartbeat silence is the bus's, not
        the agent's: only an unresponsive process (silent pipe) is restarted.
        """
        self._bus_ok = bus_ok
        self._update_health()
        if self.state not in ACTIVE_STATES or not self.alive() or self._recovering:
            return
        now = self._clock()
        if self.restart_count and self._policy.forgives(healthy_since=self._healthy_since, now=now):
            log.info("%s: up and well for a while, restart counter reset", self.account_id)
            self.restart_count = 0
        reason = self._policy.restart_reason(
            self.health, unhealthy_since=self._unhealthy_since, now=now
        )
        if reason is not None:
            self._recovering = True
            self._spawn_task(self._recover(self._proc, reason))

    # --- internals ---------------------------------------------------------------

    def _update_health(self) -> None:
        if self.state not in ACTIVE_STATES or not self.alive():
            self.health = UNKNOWN
            return
        now = self._clock()
        report = liveness_report(
            alive_at=self._alive_at,
            started_at=self._started_at,
            now=now,
            timeout_s=self._policy.heartbeat_timeout_s,
        ) or (BUS_UNREACHABLE if not self._bus_ok else self._heartbeat_health(now))
        if report.status != self.health.status:
            details = f" ({'; '.join(report.details)})" if report.details else ""
            log.info("%s: health %s%s", self.account_id, report.status, details)
        self.health = report
        if report.status is Health.UNHEALTHY:
            self._unhealthy_since = self._unhealthy_since or now
            self._healthy_since = None
        else:
            self._unhealthy_since = None
            if report.status is not Health.UNKNOWN:
                self._healthy_since = self._healthy_since or now

    def _heartbeat_health(self, now: float) -> HealthReport:
        received_at = self._received_at
        if received_at is not None:
            received_at = max(received_at, self._grace_from)
        return derive_health(
            self.heartbeat,
            received_at=received_at,
            started_at=max(self._started_at, self._grace_from),
            now=now,
            agent=self.account.agent,
            heartbeat_timeout_s=self._policy.heartbeat_timeout_s,
        )

    async def _spawn(self, reason: str) -> None:
        self.next_restart_at = None
        self._transition("STARTING", reason)
        if self._pidfile is not None and not self._checked_leftover:
            self._checked_leftover = True
            await asyncio.to_thread(self._pidfile.stop_leftover, self._policy.stop_timeout_s)
        pipe = LivenessPipe()
        try:
            proc = await AgentProcess.spawn(
                self._command,
                log_path=self._log_path,
                env={**self._env, **pipe.env()},
                pass_fds=(pipe.child_fd,),
            )
        except OSError as exc:
            pipe.close()
            await self._fail(f"could not start: {exc}")
            return
        self._close_pipe()
        self._pipe = pipe
        self._alive_at = None
        pipe.listen(self.on_alive)
        self._proc = proc
        if self._pidfile is not None:
            self._pidfile.write(proc.pid)
        self._expected_exit = False
        self._started_at = self._clock()
        self.heartbeat = None
        self._received_at = None
        self._unhealthy_since = self._healthy_since = None
        self.health = UNKNOWN
        log.info("%s: started pid %d", self.account_id, proc.pid)
        self._spawn_task(self._watch(proc))

    async def _watch(self, proc: AgentProcess) -> None:
        code = await proc.wait()
        async with self._lock:
            if proc is not self._proc or self._expected_exit:
                return
            self._forget_process()
            self.last_exit = describe_exit(code)
            await self._fail(self.last_exit)

    async def _recover(self, proc: AgentProcess | None, reason: str) -> None:
        try:
            async with self._lock:
                if proc is None or proc is not self._proc:
                    return
                log.warning("%s: restarting: %s", self.account_id, reason)
                self._expected_exit = True
                code, killed = await proc.stop(self._policy.stop_timeout_s)
                self._forget_process()
                how = f", {describe_exit(code)} after stop timeout" if killed else ""
                self.last_exit = f"killed by the supervisor{how}"
                await self._fail(f"{reason}; {self.last_exit}")
        finally:
            self._recovering = False

    async def _terminate(self, reason: str) -> None:
        proc = self._proc
        assert proc is not None
        self._transition("STOPPING", reason)
        self._expected_exit = True
        code, killed = await proc.stop(self._policy.stop_timeout_s)
        self._forget_process()
        self.last_exit = describe_exit(code) + (" after stop timeout" if killed else "")
        self.health = UNKNOWN
        self._transition("STOPPED", f"{reason} ({self.last_exit})")

    def _close_pipe(self) -> None:
        if self._pipe is not None:
            self._pipe.close()
            self._pipe = None

    def _forget_process(self) -> None:
        self._close_pipe()
        self._proc = None
        if self._pidfile is not None:
            self._pidfile.remove()

    async def _fail(self, reason: str) -> None:
        self.health = UNKNOWN
        self._transition("FAILED", reason)
        delay = self._policy.backoff.delay(self.restart_count)
        self.restart_count += 1
        self.next_restart_at = utc_now() + timedelta(seconds=delay)
        self._transition("RESTARTING", f"restart {self.restart_count} in {delay:g}s")
        self._timer = asyncio.create_task(self._restart_after(delay))

    async def _restart_after(self, delay: float) -> None:
        await asyncio.sleep(delay)
        async with self._lock:
            if self._timer is not asyncio.current_task():
                return
            self._timer = None
            if not self.alive():
                await self._spawn(f"automatic restart {self.restart_count}")

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.next_restart_at = None

    def _spawn_task(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _transition(self, state: LifecycleState, reason: str) -> None:
        previous, self.state = self.state, state
        log.info("%s: %s -> %s (%s)", self.account_id, previous, state, reason)
        self._publisher.emit(
            AgentLifecycleChanged(
                account_id=self.account_id,
                agent_id=self.agent_id,
                state=state,
                previous_state=previous,
                reason=reason,
                restart_count=self.restart_count,
                pid=self.pid,
                time=utc_now(),
            )
        )

    # --- view ----------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """What `mtq.agents.list` reports for this account (JSON-able)."""
        self._update_health()
        hb = self.heartbeat
        last: dict[str, Any] | None = None
        if hb is not None and self._received_at is not None:
            last = {
                "time": hb.time.isoformat(),
                "age_s": round(self._clock() - self._received_at, 3),
                "sequence": hb.sequence,
                "terminal_connected": hb.terminal_connected,
                "breaker_state": hb.breaker_state,
                "terminal_latency_ms": hb.terminal_latency_ms,
                "last_tick_age_s": dict(hb.last_tick_age_s),
                "events_buffered": hb.events_buffered,
                "outbox_full": hb.outbox_full,
                "last_error": hb.last_error,
            }
        return {
            "account": self.account_id,
            "enabled": self.account.enabled,
            "state": self.state,
            "pid": self.pid,
            "restart_count": self.restart_count,
            "next_restart_at": self.next_restart_at.isoformat() if self.next_restart_at else None,
            "health": str(self.health.status),
            "health_reasons": [str(r) for r in self.health.reasons],
            "health_details": list(self.health.details),
            "last_exit": self.last_exit,
            "alive_age_s": None
            if self._alive_at is None or not self.alive()
            else round(self._clock() - self._alive_at, 3),
            "last_heartbeat": last,
        }
