"""Test-only service child: `R`, then beats from its event loop, as the engine does.

Usage: python service_liveness_child.py MODE [SECONDS]
  beat: beat until SIGTERM.
  busy: a worker thread computes for SECONDS while the loop beats, then `busy done`.
  block: after `blocking`, the event loop blocks (a synchronous sleep): its beats stop.
Every mode stops on SIGTERM once its loop runs.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time

from agents.supervisor.liveness import signal_ready

BEAT_S = 0.2


def compute(seconds: float) -> int:
    """Burn CPU for `seconds`: busy, yet its process stays alive."""
    until = time.monotonic() + seconds
    count = 0
    while time.monotonic() < until:
        count += sum(range(1000))
    return count


async def main(mode: str, seconds: float) -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    signal_ready(beat_s=BEAT_S)
    print(f"ready in mode {mode}", flush=True)
    if mode == "busy":
        await asyncio.to_thread(compute, seconds)
        print("busy done", flush=True)
    elif mode == "block":
        print("blocking", flush=True)
        time.sleep(3600)  # noqa: ASYNC251 - the hang this child exists to show
    await stop.wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 0.0))
