"""Run agents in-process around a simulator: for tests, benchmarks and `mtq up`-style hosts."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nats.aio.client import Client

from agents.agent import Agent, AgentTuning, build_agent
from agents.outbox import OutgoingFact, StoredFact
from agents.terminal.async_terminal import AsyncTerminal
from config.models import AccountConfig


def simulator_account(account_id: str, **overrides: Any) -> AccountConfig:
    """A simulated account with quick agent settings; `overrides` are top-level config keys."""
    data: dict[str, Any] = {
        "id": account_id,
        "symbols": [{"name": "EURUSD"}],
        "terminal": {"kind": "simulator", "simulator": {"seed": 1}},
        "agent": {"poll_interval_ms": 20, "heartbeat_interval_s": 0.2},
    }
    data.update(overrides)
    return AccountConfig.model_validate(data)


@dataclass
class RunningAgent:
    agent: Agent
    stop: asyncio.Event
    task: asyncio.Task[None]

    async def close(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        self.stop.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self.task), timeout=timeout)


def start_agent(
    account: AccountConfig,
    terminal: Any,
    *,
    nats_url: str,
    data_dir: Path,
    nc: Client | None = None,
    tuning: AgentTuning | None = None,
    inline: bool = True,
    on_published: Callable[[Sequence[OutgoingFact | StoredFact], float], None] | None = None,
    clock: Callable[[], float] | None = None,
) -> RunningAgent:
    """Start an agent task on the running loop; `terminal` is a TerminalPort (a simulator),
    called on the loop when `inline`, else on a worker thread, or an AsyncTerminal.
    `clock` is the agent's UTC clock (default: the simulator's clock, else the system's)."""
    if not isinstance(terminal, AsyncTerminal):
        terminal = AsyncTerminal(terminal, thread_name=f"mt5-{account.id}", inline=inline)
    sim_clock = getattr(terminal.terminal, "clock", None)
    agent = build_agent(
        account,
        terminal=terminal,
        nats_url=nats_url,
        data_dir=data_dir,
        nc=nc,
        tuning=tuning,
        on_published=on_published,
        clock=clock or (sim_clock.now if sim_clock is not None else time.time),
    )
    stop = asyncio.Event()
    task = asyncio.create_task(agent.run(stop), name=f"agent-{account.id}")
    return RunningAgent(agent, stop, task)
