"""Signals (issue 17): signal -> PlaceOrder on CMD with auto approval, and signals/s accepted.

A real engine over 200 accounts (a server of its own) while every account keeps sending
snapshots: one strategy, `approval: auto`, fixed lots. Latency is from the request on
`mtq.orders.submit.admin` to the `PlaceOrder` arriving on `cmd.<acct>.place_order` (target
p99 <= 10 ms); throughput is sequential and 20 in flight, one account each.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.client import JetStreamContext

from bench.context import BenchContext
from bench.engine_workload import account_id, write_config
from bus import subjects
from bus.codec import encode
from bus.embedded import EmbeddedNatsServer
from bus.schemas import AccountSnapshot, TickReceived
from bus.schemas.orders import SignalSubmit
from bus.topology import ensure_topology
from config import load_config
from mtq.bootstrap import build_engine

STRATEGY = """
strategies:
  - {name: bench, secret_env: MTQ_BENCH_SECRET, approval: auto, sizing: {fixed: 0.01}}
"""


def log(text: str) -> None:
    print(f"  {text}", file=sys.stderr, flush=True)


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


def snapshot(acct: str) -> bytes:
    return encode(
        AccountSnapshot(
            account_id=acct, login=1, balance=100_000.0, equity=100_000.0, margin=0.0,
            margin_free=100_000.0, margin_level=0.0, profit=0.0, currency="USD",
            server="bench", time=datetime.now(UTC),
        )
    )  # fmt: skip


async def load_accounts(js: JetStreamContext, accounts: int, stop: asyncio.Event) -> None:
    """Every account's snapshot, round after round, until `stop` (the engine's load)."""
    while not stop.is_set():
        for i in range(accounts):
            await js.publish(subjects.account_snapshot(account_id(i)), snapshot(account_id(i)))
        await asyncio.sleep(0.5)


def signal(n: int, acct: str) -> bytes:
    body = SignalSubmit(
        signal_id=f"bench-{n}", strategy="bench", accounts=(acct,), symbol="EURUSD",
        side="buy", sl=1.0801,
    )  # fmt: skip
    return encode(body)


async def _run(ctx: BenchContext) -> dict[str, Any]:
    accounts = 200
    count = 200 if ctx.quick else 2_000
    config = load_config(write_config(ctx.work_dir / "signals.yaml", accounts, STRATEGY))
    with EmbeddedNatsServer(data_dir=ctx.work_dir / "signals-nats") as server:
        nc: Client = await nats.connect(server.url)
        js = nc.jetstream()
        await ensure_topology(js)
        for i in range(accounts):
            acct = account_id(i)
            await js.publish(subjects.account_snapshot(acct), snapshot(acct))
            tick = TickReceived(account_id=acct, symbol="EURUSD", bid=1.0850, ask=1.0851,
                                time_msc=int(time.time() * 1000))  # fmt: skip
            await js.publish(subjects.tick(acct, "EURUSD"), encode(tick))
        process = await build_engine(config, server.url)
        stop = asyncio.Event()
        engine = asyncio.create_task(process.run(stop))
        await asyncio.wait_for(process.engine.ready.wait(), 60)
        while process.orders_micro is None:  # served once caught up
            await asyncio.sleep(0.01)
        arrived: dict[str, float] = {}
        waiting: dict[str, asyncio.Event] = {}

        async def on_command(msg: Msg) -> None:
            signal_id = msg.data.split(b'"signal_id":"', 1)[1].split(b'"', 1)[0].decode()
            arrived[signal_id] = time.perf_counter()
            if signal_id in waiting:
                waiting[signal_id].set()

        sub = await nc.subscribe("cmd.*.place_order", cb=on_command)
        load_stop = asyncio.Event()
        loader = asyncio.create_task(load_accounts(js, accounts, load_stop))
        latencies: list[float] = []
        for n in range(count):
            key = f"bench-{n}"
            waiting[key] = asyncio.Event()
            started = time.perf_counter()
            await nc.request(
                subjects.orders_submit("admin"), signal(n, account_id(n % accounts)), 5
            )
            await asyncio.wait_for(waiting[key].wait(), 5)
            latencies.append((arrived[key] - started) * 1000)
        in_flight = 20
        started = time.perf_counter()
        for batch in range(count // in_flight):
            await asyncio.gather(*[
                nc.request(subjects.orders_submit("admin"),
                           signal(count + batch * in_flight + k, account_id(k)), 10)
                for k in range(in_flight)
            ])  # fmt: skip
        concurrent = (count // in_flight * in_flight) / (time.perf_counter() - started)
        load_stop.set()
        await loader
        await sub.unsubscribe()
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(engine, 30)
        await nc.close()
    result = {
        "accounts": accounts,
        "signals": count,
        "signal_to_place_order": {"p50_ms": pct(latencies, 0.5), "p99_ms": pct(latencies, 0.99)},
        "target": {"p99_ms": 10},
        "sequential_per_s": round(1000 / statistics.mean(latencies), 1),
        "concurrent_per_s": round(concurrent, 1),
    }
    log(str(result))
    return result


def run(ctx: BenchContext) -> dict[str, Any]:
    return asyncio.run(_run(ctx))


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory(prefix="mtq-bench-") as tmp:
        quick = "--quick" in sys.argv
        print(run(BenchContext(nats_url="", server=None, work_dir=Path(tmp), quick=quick)))  # type: ignore[arg-type]
