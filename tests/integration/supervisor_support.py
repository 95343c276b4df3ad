"""Helpers for the supervisor's integration tests: configs, fake agents, lifecycle readers."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.client import JetStreamContext

from agents.supervisor.supervisor import CommandFactory, Supervisor
from bus import subjects
from bus.codec import decode_fact
from bus.schemas import AgentLifecycleChanged
from bus.topology import ensure_topology
from config import AccountConfig, AgentConfig, MtqConfig, SupervisorConfig, SymbolConfig

FAKE_AGENT = Path(__file__).with_name("supervisor_fake_agent.py")


def unique_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def make_config(account_ids: Sequence[str], **supervisor: Any) -> MtqConfig:
    """Accounts with one symbol; fast supervisor timings unless overridden."""
    timings: dict[str, Any] = {
        "restart_initial_delay_s": 0.5,
        "restart_factor": 2,
        "restart_max_delay_s": 4,
        "stop_timeout_s": 3,
        "heartbeat_timeout_s": 3,
        "health_check_interval_s": 0.1,
    }
    timings.update(supervisor)
    return MtqConfig(
        accounts=tuple(
            AccountConfig(
                id=a,
                symbols=(SymbolConfig(name="EURUSD"),),
                agent=AgentConfig(heartbeat_interval_s=0.2),
            )
            for a in account_ids
        ),
        supervisor=SupervisorConfig(**timings),
    )


def fake_agents(nats_url: str, modes: dict[str, str] | None = None) -> CommandFactory:
    """Command lines that run the fake agent, in the mode chosen per account."""
    chosen = modes or {}

    def command(account_id: str) -> list[str]:
        return [
            sys.executable,
            str(FAKE_AGENT),
            "--account",
            account_id,
            "--nats-url",
            nats_url,
            "--mode",
            chosen.get(account_id, "healthy"),
        ]

    return command


def fake_supervisor(
    config: MtqConfig,
    nc: Client,
    *,
    nats_url: str,
    data_dir: Path,
    modes: dict[str, str] | None = None,
    command_factory: CommandFactory | None = None,
) -> Supervisor:
    """A supervisor of fake agents (or of `command_factory`'s processes), no micro service."""
    return Supervisor(
        config,
        nc,
        config_paths=[],
        nats_url=nats_url,
        data_dir=data_dir,
        command_factory=command_factory or fake_agents(nats_url, modes),
        serve=False,
    )


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def provision(nc: Client) -> JetStreamContext:
    js = nc.jetstream()
    await ensure_topology(js)
    return js


class LifecycleLog:
    """Every AgentLifecycleChanged stored in the MT5 stream for one account, as it arrives."""

    def __init__(self) -> None:
        self.events: list[AgentLifecycleChanged] = []
        self.msg_ids: list[str] = []

    @classmethod
    async def follow(cls, js: JetStreamContext, account_id: str) -> LifecycleLog:
        log = cls()

        async def on_msg(msg: Msg) -> None:
            event = decode_fact(msg.subject, msg.data)
            assert isinstance(event, AgentLifecycleChanged)
            log.events.append(event)
            log.msg_ids.append((msg.headers or {}).get("Nats-Msg-Id", ""))

        await js.subscribe(subjects.lifecycle(account_id), cb=on_msg, ordered_consumer=True)
        return log

    def states(self, since: int = 0) -> list[str]:
        return [e.state for e in self.events[since:]]

    def has(self, states: Sequence[str], since: int = 0) -> Callable[[], bool]:
        """Check usable with `eventually`: `states` appear in order (not necessarily adjacent)."""

        def check() -> bool:
            seen = iter(self.states(since))
            return all(any(s == want for s in seen) for want in states)

        return check
