"""Projector: rebuild rate into SQLite and PostgreSQL against a raw ordered read of the same
log, catch-up lag under live load from 200 simulated accounts, `mtq.query.status` rate.

The log is facts only (snapshots, heartbeats, lifecycle, positions of 200 accounts, in the
MT5 stream): a raw read is an ephemeral no-ack consumer reading it in order and nothing
else, the same reader the projector uses. Runs on a nats-server of its own.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nats
from nats.aio.client import Client
from nats.js.client import JetStreamContext

from bench.context import BenchContext
from bench.postgres import postgres_env
from bus import subjects
from bus.codec import encode
from bus.embedded import EmbeddedNatsServer
from bus.reader import FactReader
from bus.schemas import (
    AccountSnapshot,
    AgentHeartbeat,
    AgentLifecycleChanged,
    PositionClosed,
    PositionOpened,
)
from bus.topology import ensure_topology
from mtq.bootstrap import build_projector, log_ends
from projections.projector import MT5_FILTERS
from projections.settings import AccountSettings

ACCOUNTS = 200
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def log(text: str) -> None:
    print(f"[projector] {text}", file=sys.stderr, flush=True)


def account_id(i: int) -> str:
    return f"bench-{i:03d}"


def settings() -> dict[str, AccountSettings]:
    return {account_id(i): AccountSettings(account_id=account_id(i)) for i in range(ACCOUNTS)}


class Feed:
    """Facts as 200 agents publish them: mostly snapshots and heartbeats, some trades."""

    def __init__(self, seed: int = 1) -> None:
        self.rng = random.Random(seed)
        self.open: dict[int, list[int]] = {i: [] for i in range(ACCOUNTS)}
        self.next_id = 1
        self.equity = {i: 100_000.0 for i in range(ACCOUNTS)}
        self.n = 0

    def fact(self, i: int, at: datetime) -> tuple[str, bytes]:
        acct = account_id(i)
        self.n += 1
        roll = self.rng.random()
        msc = int(at.timestamp() * 1000)
        if self.n <= ACCOUNTS:
            life = AgentLifecycleChanged(account_id=acct, agent_id=acct, state="RUNNING", time=at)
            return subjects.lifecycle(acct), encode(life)
        if roll < 0.05 and len(self.open[i]) < 5:
            ident = self.next_id
            self.next_id += 1
            self.open[i].append(ident)
            pos = PositionOpened(account_id=acct, ticket=ident, identifier=ident,
                                 symbol="EURUSD", side="buy", volume=0.1, price_open=1.085,
                                 price_current=1.085, reason="expert", time_msc=msc)  # fmt: skip
            return subjects.position(acct, "opened"), encode(pos)
        if roll < 0.1 and self.open[i]:
            ident = self.open[i].pop(0)
            closed = PositionClosed(account_id=acct, ticket=ident, identifier=ident,
                                    symbol="EURUSD", side="buy", volume=0.1, price_open=1.085,
                                    price_current=1.086, profit=10.0, time_msc=msc,
                                    close_price=1.086, deal_reason="tp",
                                    close_time_msc=msc)  # fmt: skip
            return subjects.position(acct, "closed"), encode(closed)
        if roll < 0.55:
            beat = AgentHeartbeat(account_id=acct, agent_id=acct, pid=1, terminal_connected=True,
                                  breaker_state="closed", terminal_latency_ms=1.0,
                                  last_tick_age_s={"EURUSD": 0.2}, time=at)  # fmt: skip
            return subjects.health(acct), encode(beat)
        self.equity[i] = round(self.equity[i] * (1 + self.rng.gauss(0, 0.0005)), 2)
        snap = AccountSnapshot(account_id=acct, login=i + 1, balance=100_000.0,
                               equity=self.equity[i], margin=0.0, margin_free=self.equity[i],
                               margin_level=0.0, profit=0.0, currency="USD", server="bench",
                               time=at)  # fmt: skip
        return subjects.account_snapshot(acct), encode(snap)


async def publish_log(js: JetStreamContext, feed: Feed, count: int) -> float:
    """Publish `count` facts; return seconds taken."""
    started = time.perf_counter()
    chunk = 2000
    done = 0
    while done < count:
        n = min(chunk, count - done)
        futures = []
        for k in range(n):
            step = done + k
            at = T0 + timedelta(milliseconds=step * 5)
            subject, data = feed.fact(step % ACCOUNTS, at)
            futures.append(await js.publish_async(subject, data))
        await asyncio.gather(*futures)
        done += n
        if done % 100_000 < chunk:
            log(f"published {done}")
    return time.perf_counter() - started


async def raw_read(url: str, count: int) -> float:
    """Events per second of an ordered no-ack read of the whole MT5 log."""
    nc = await nats.connect(url)
    js = nc.jetstream()
    reader = FactReader(lambda: js, 1, filters=MT5_FILTERS)
    seen = 0
    started = time.perf_counter()
    try:
        while seen < count:
            seen += len(await reader.fetch(1.0))
    finally:
        await reader.close()
        await nc.close()
    return seen / (time.perf_counter() - started)


async def rebuild(url: str, db_url: str) -> dict[str, float]:
    process = await build_projector(settings(), url, db_url=db_url, serve=False, mirror=False,
                                    rebuild=True)  # fmt: skip
    ends = await log_ends(process.nc.jetstream())
    started = time.perf_counter()
    await process.run(asyncio.Event(), until=ends)
    seconds = time.perf_counter() - started
    events = process.projector.stats.facts + process.projector.stats.decisions
    return {"events": events, "seconds": round(seconds, 2), "events_per_s": round(events / seconds)}


async def live(url: str, db_url: str, seconds: float, rate: float) -> dict[str, Any]:
    """Lag from publish to commit under live load, and `mtq.query.status` rate and p99."""
    commits: list[tuple[float, int]] = []
    process = await build_projector(settings(), url, db_url=db_url, rebuild=True)

    async def on_status(_docs: list[dict[str, Any]]) -> None:
        commits.append((time.perf_counter(), process.projector.positions[0]))
        assert mirror is not None
        await mirror(_docs)

    mirror = process.projector.on_status
    process.projector.on_status = on_status
    stop = asyncio.Event()
    task = asyncio.create_task(process.run(stop))
    await process.projector.ready.wait()
    nc = await nats.connect(url)
    js = nc.jetstream()
    feed = Feed(seed=2)
    sent: list[tuple[int, float]] = []
    step = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        batch = max(1, int(rate / 20))
        for _ in range(batch):
            subject, data = feed.fact(step % ACCOUNTS, datetime.now(UTC))
            step += 1
            t = time.perf_counter()
            ack = await js.publish(subject, data)
            sent.append((ack.seq, t))
        await asyncio.sleep(0.05)
    await asyncio.sleep(1.5)
    lags = []
    for seq, t in sent:
        done = next((c for c, s in commits if s >= seq and c >= t), None)
        if done is not None:
            lags.append(done - t)
    query = await query_rate(nc, 3.0 if seconds < 10 else 10.0)
    stop.set()
    await task
    await nc.close()
    lags.sort()
    return {
        "facts_per_s": round(len(sent) / seconds),
        "facts": len(sent),
        "committed": len(lags),
        "lag_p50_ms": round(statistics.median(lags) * 1000, 1) if lags else None,
        "lag_p99_ms": round(lags[int(len(lags) * 0.99) - 1] * 1000, 1) if lags else None,
        "query_status": query,
    }


async def query_rate(nc: Client, seconds: float, concurrency: int = 8) -> dict[str, float]:
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def worker(n: int) -> None:
        while time.perf_counter() < deadline:
            body = b'{"account": "%s"}' % account_id(n % ACCOUNTS).encode()
            t = time.perf_counter()
            await nc.request(subjects.query("status"), body, timeout=5)
            latencies.append(time.perf_counter() - t)
            n += concurrency

    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "requests_per_s": round(len(latencies) / elapsed),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2),
        "concurrency": concurrency,
    }


def _pg_url(env: dict[str, str]) -> str:
    host = env["POSTGRES_HOST"]
    auth = env["POSTGRES_USER"] + (f":{env['POSTGRES_PASSWORD']}" if env["POSTGRES_PASSWORD"]
                                   else "")  # fmt: skip
    if host.startswith("/"):
        return (f"postgresql://{auth}@/{env['POSTGRES_DBNAME']}?host={host}"
                f"&port={env['POSTGRES_PORT']}")  # fmt: skip
    return f"postgresql://{auth}@{host}:{env['POSTGRES_PORT']}/{env['POSTGRES_DBNAME']}"


async def _run(ctx: BenchContext, url: str, work: Path) -> dict[str, Any]:
    count = 50_000 if ctx.quick else 1_000_000
    nc = await nats.connect(url)
    await ensure_topology(nc.jetstream())
    seconds = await publish_log(nc.jetstream(), Feed(), count)
    await nc.close()
    log(f"{count} facts published in {seconds:.1f}s; raw read ...")
    raw = await raw_read(url, count)
    log(f"raw ordered read {raw:,.0f}/s; rebuild into SQLite ...")
    sqlite = await rebuild(url, f"sqlite:///{work / 'bench.sqlite'}")
    log(f"SQLite {sqlite}; rebuild into PostgreSQL ...")
    with postgres_env(work) as env:
        pg_url = _pg_url(env)
        postgres = await rebuild(url, pg_url)
    log(f"PostgreSQL {postgres}")
    sqlite["ratio_to_raw_read"] = round(sqlite["events_per_s"] / raw, 3)
    postgres["ratio_to_raw_read"] = round(postgres["events_per_s"] / raw, 3)
    return {
        "log_events": count,
        "raw_ordered_read_per_s": round(raw),
        "rebuild_sqlite": sqlite,
        "rebuild_postgres": postgres,
        "target_sqlite_events_per_s": 20_000,
    }


def run(ctx: BenchContext) -> dict[str, Any]:
    work = ctx.work_dir / "projector"
    work.mkdir(parents=True, exist_ok=True)
    with EmbeddedNatsServer(data_dir=work / "nats") as server:
        result = asyncio.run(_run(ctx, server.url, work))
    with EmbeddedNatsServer(data_dir=work / "nats-live") as server:
        seconds = 5.0 if ctx.quick else 30.0
        live_db = f"sqlite:///{work / 'live.sqlite'}"
        log(f"live load: {ACCOUNTS} accounts for {seconds:.0f}s ...")

        async def go() -> dict[str, Any]:
            nc = await nats.connect(server.url)
            await ensure_topology(nc.jetstream())
            await nc.close()
            return await live(server.url, live_db, seconds, rate=400.0)

        result["live_200_accounts"] = asyncio.run(go())
    return result
