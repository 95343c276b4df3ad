"""Test-only stand-in for `mtq agent run`: publishes real AgentHeartbeat messages.

Usage: python supervisor_fake_agent.py --account ID --nats-url URL [--mode MODE]
  [--interval S] [--config PATH] [--data DIR]
Modes: healthy; silent (no heartbeat, no sign of life on the liveness pipe: hung);
mute (alive on the pipe, never heartbeats: cut off from the bus); disconnected (terminal
disconnected in every heartbeat); ignore-term (ignores SIGTERM).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal

import nats

from agents.supervisor.liveness import send_liveness
from bus import subjects
from bus.codec import encode
from bus.schemas import AgentHeartbeat
from bus.schemas.base import utc_now


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--account", required=True)
    parser.add_argument("--nats-url", required=True)
    parser.add_argument("--mode", default="healthy")
    parser.add_argument("--interval", type=float, default=0.2)
    parser.add_argument("--config", action="append", default=[])
    parser.add_argument("--data", default="")
    args = parser.parse_args()

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    if args.mode == "ignore-term":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    else:
        loop.add_signal_handler(signal.SIGTERM, stop.set)

    hung = args.mode == "silent"
    alive = None if hung else asyncio.create_task(send_liveness(args.interval, stop))
    nc = await nats.connect(args.nats_url)
    sequence = 0
    while not stop.is_set():
        if args.mode not in ("silent", "mute"):
            sequence += 1
            beat = AgentHeartbeat(
                account_id=args.account,
                agent_id=f"fake-{args.account}",
                pid=os.getpid(),
                sequence=sequence,
                terminal_connected=args.mode != "disconnected",
                breaker_state="closed",
                terminal_latency_ms=1.0,
                last_tick_age_s={"EURUSD": 0.1},
                time=utc_now(),
            )
            await nc.publish(subjects.health(args.account), encode(beat))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), args.interval)
    await nc.drain()
    if alive is not None:
        await alive


if __name__ == "__main__":
    asyncio.run(main())
