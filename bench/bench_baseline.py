"""Baselines every other benchmark divides by: raw nats-py on the embedded server.

Rates are msgs/s, the median of 3 runs, measured in the same process and run as the
benchmarks that use them.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from collections.abc import Awaitable, Callable

import nats
from nats.aio.client import Client
from nats.js import api

from bench.context import BenchContext, median_rate

PAYLOAD = b'{"type":"TickReceived","account_id":"bench","symbol":"EURUSD","bid":1.08512,' + (
    b'"ask":1.08522,"last":0.0,"volume":0.0,"time_msc":1795000000000,"flags":6}'
)
RUNS = 3


async def _core_pubsub(nc: Client, count: int) -> float:
    subject = f"bench.core.{uuid.uuid4().hex}"
    done = asyncio.Event()
    received = 0

    async def on_msg(_msg: object) -> None:
        nonlocal received
        received += 1
        if received == count:
            done.set()

    sub = await nc.subscribe(subject, cb=on_msg, pending_msgs_limit=count + 1)
    await nc.flush()
    started = time.perf_counter()
    for _ in range(count):
        await nc.publish(subject, PAYLOAD)
    await nc.flush()
    await asyncio.wait_for(done.wait(), timeout=120)
    elapsed = time.perf_counter() - started
    await sub.unsubscribe()
    return count / elapsed


async def _fresh_stream(nc: Client) -> tuple[str, str]:
    name = f"BENCH_{uuid.uuid4().hex[:10].upper()}"
    subject = f"bench.js.{name.lower()}"
    await nc.jetstream().add_stream(
        api.StreamConfig(name=name, subjects=[subject], storage=api.StorageType.FILE)
    )
    return name, subject


async def _js_publish_sync(nc: Client, count: int) -> float:
    js = nc.jetstream()
    name, subject = await _fresh_stream(nc)
    started = time.perf_counter()
    for _ in range(count):
        await js.publish(subject, PAYLOAD)
    elapsed = time.perf_counter() - started
    await js.delete_stream(name)
    return count / elapsed


async def _js_publish_async(nc: Client, count: int) -> float:
    js = nc.jetstream()
    name, subject = await _fresh_stream(nc)
    started = time.perf_counter()
    futures = [await js.publish_async(subject, PAYLOAD) for _ in range(count)]
    await asyncio.gather(*futures)
    elapsed = time.perf_counter() - started
    await js.delete_stream(name)
    return count / elapsed


async def _ordered_read(nc: Client, count: int) -> float:
    js = nc.jetstream()
    name, subject = await _fresh_stream(nc)
    for start in range(0, count, 10_000):
        futures = [
            await js.publish_async(subject, PAYLOAD) for _ in range(min(10_000, count - start))
        ]
        await asyncio.gather(*futures)
    received = 0
    done = asyncio.Event()

    async def on_msg(_msg: object) -> None:
        nonlocal received
        received += 1
        if received == count:
            done.set()

    started = time.perf_counter()
    sub = await js.subscribe(subject, cb=on_msg, ordered_consumer=True, pending_msgs_limit=-1)
    await asyncio.wait_for(done.wait(), timeout=300)
    elapsed = time.perf_counter() - started
    await sub.unsubscribe()
    await js.delete_stream(name)
    return count / elapsed


async def _kv(nc: Client, count: int) -> tuple[float, float]:
    js = nc.jetstream()
    bucket = f"bench_{uuid.uuid4().hex[:8]}"
    kv = await js.create_key_value(bucket=bucket, history=1)
    keys = [f"acc-{i % 200}" for i in range(count)]
    started = time.perf_counter()
    for key in keys:
        await kv.put(key, PAYLOAD)
    put_rate = count / (time.perf_counter() - started)
    started = time.perf_counter()
    for key in keys:
        await kv.get(key)
    get_rate = count / (time.perf_counter() - started)
    await js.delete_key_value(bucket)
    return put_rate, get_rate


async def _median(label: str, fn: Callable[[], Awaitable[float]]) -> float:
    samples = []
    for run in range(RUNS):
        samples.append(await fn())
        print(f"  {label} run {run + 1}: {samples[-1]:,.0f} msgs/s", file=sys.stderr)
    return median_rate(samples)


async def _run(ctx: BenchContext) -> dict[str, float]:
    scale = 0.1 if ctx.quick else 1.0

    def n(base: int) -> int:
        return max(500, int(base * scale))

    nc = await nats.connect(ctx.nats_url, pending_size=64 * 1024 * 1024)
    try:
        results = {
            "core_pubsub": await _median("core pub->sub", lambda: _core_pubsub(nc, n(200_000))),
            "js_publish_sync": await _median(
                "JetStream publish (await each ack)", lambda: _js_publish_sync(nc, n(5_000))
            ),
            "js_publish_async": await _median(
                "JetStream publish_async", lambda: _js_publish_async(nc, n(50_000))
            ),
            "ordered_read": await _median(
                "ordered consumer read", lambda: _ordered_read(nc, n(200_000))
            ),
        }
        kv_samples = []
        for run in range(RUNS):
            put, get = await _kv(nc, n(3_000))
            kv_samples.append((put, get))
            print(f"  KV run {run + 1}: put {put:,.0f}/s get {get:,.0f}/s", file=sys.stderr)
        results["kv_put"] = median_rate([p for p, _ in kv_samples])
        results["kv_get"] = median_rate([g for _, g in kv_samples])
        return results
    finally:
        await nc.close()


def run(ctx: BenchContext) -> dict[str, float]:
    """Measure the raw nats-py baselines (msgs/s, median of 3)."""
    return asyncio.run(_run(ctx))
