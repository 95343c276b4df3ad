"""Risk engine: facts/s exactly once, breach-to-CloseAll latency, pre-trade, memory, audit.

Runs on a server of its own (the engine owns the MT5 and RISK streams). Ratios divide by a
raw nats-py ordered-consumer read of the same MT5 stream, measured in the same run.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import nats
from nats.aio.client import Client
from nats.js.client import JetStreamContext

from bench.context import BenchContext
from bench.engine_workload import account_id, facts, publish, write_config
from bus import subjects
from bus.codec import encode
from bus.embedded import EmbeddedNatsServer
from bus.reader import FactReader
from bus.schemas import AccountSnapshot, TickReceived
from bus.schemas.risk import RiskCheckReply, RiskCheckRequest
from bus.topology import ensure_topology
from config import load_config
from engine.audit_run import run_verify
from mtq.bootstrap import EngineProcess, build_engine


def log(text: str) -> None:
    print(f"  {text}", file=sys.stderr, flush=True)


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


async def raw_ordered_read(js: JetStreamContext, count: int) -> float:
    received = 0
    done = asyncio.Event()

    async def on_msg(_msg: object) -> None:
        nonlocal received
        received += 1
        if received >= count:
            done.set()

    started = time.perf_counter()
    sub = await js.subscribe(
        subjects.ALL_FACTS,
        stream=subjects.STREAM_FACTS,
        cb=on_msg,
        ordered_consumer=True,
        pending_msgs_limit=-1,
    )
    await asyncio.wait_for(done.wait(), timeout=600)
    elapsed = time.perf_counter() - started
    await sub.unsubscribe()
    return count / elapsed


async def reader_read(js: JetStreamContext, last_seq: int) -> float:
    reader = FactReader(lambda: js, 1)
    started = time.perf_counter()
    seen = 0
    while reader.next_seq <= last_seq:
        seen += len(await reader.fetch(2.0))
    elapsed = time.perf_counter() - started
    await reader.close()
    return seen / elapsed


async def catch_up(
    process: EngineProcess, last_seq: int, stop: asyncio.Event
) -> tuple[float, asyncio.Task[None]]:
    started = time.perf_counter()
    task = asyncio.create_task(process.run(stop))
    while process.engine.pipeline.committed_seq < last_seq:  # noqa: ASYNC110 - polling a counter
        await asyncio.sleep(0.01)
    return time.perf_counter() - started, task


async def breach_latency(
    nc: Client, js: JetStreamContext, breachers: list[str], load_accounts: int, rate: float
) -> dict[str, float]:
    """Publish a breaching snapshot per account under `rate` facts/s of other load."""
    arrived: dict[str, float] = {}

    async def on_cmd(msg: Any) -> None:
        arrived.setdefault(msg.subject.split(".")[1], time.perf_counter())

    sub = await nc.subscribe(f"{subjects.COMMANDS_PREFIX}.*.close_all", cb=on_cmd)
    stop_load = asyncio.Event()

    async def load() -> None:
        n = 0
        while not stop_load.is_set():
            batch = []
            for _ in range(int(rate / 20)):
                index = n % load_accounts
                batch.append(
                    await js.publish_async(
                        subjects.account_snapshot(account_id(index)),
                        encode(_snapshot(account_id(index), 100_000.0 + (n % 7))),
                    )
                )
                n += 1
            await asyncio.gather(*batch)
            await asyncio.sleep(0.05)

    loader = asyncio.create_task(load())
    await asyncio.sleep(1.0)
    sent: dict[str, float] = {}
    for acct in breachers:
        sent[acct] = time.perf_counter()
        await js.publish(subjects.account_snapshot(acct), encode(_snapshot(acct, 80_000.0)))
        await asyncio.sleep(0.02)
    deadline = time.perf_counter() + 10
    while len(arrived) < len(breachers) and time.perf_counter() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.02)
    stop_load.set()
    await loader
    await sub.unsubscribe()
    latencies = [(arrived[a] - sent[a]) * 1000 for a in breachers if a in arrived]
    return {
        "samples": len(latencies),
        "missing": len(breachers) - len(latencies),
        "p50_ms": pct(latencies, 0.5),
        "p99_ms": pct(latencies, 0.99),
        "other_load_facts_per_s": rate,
    }


def _snapshot(acct: str, equity: float) -> AccountSnapshot:
    return AccountSnapshot(
        account_id=acct,
        login=1,
        balance=100_000.0,
        equity=equity,
        margin=0.0,
        margin_free=equity,
        margin_level=0.0,
        profit=equity - 100_000,
        currency="USD",
        server="bench",
        time=datetime.now(UTC),
    )


async def pretrade(nc: Client, js: JetStreamContext, acct: str, count: int) -> dict[str, float]:
    await js.publish(
        subjects.tick(acct, "EURUSD"),
        encode(
            TickReceived(
                account_id=acct,
                symbol="EURUSD",
                bid=1.085,
                ask=1.0851,
                time_msc=int(time.time() * 1000),
            )
        ),
    )
    request = encode(
        RiskCheckRequest(
            account_id=acct, symbol="EURUSD", side="buy", volume=0.01, price=1.0851, sl=1.0841
        )
    )
    latencies = []
    for _ in range(count):
        started = time.perf_counter()
        reply = await nc.request(subjects.risk_check(acct), request, timeout=5)
        latencies.append((time.perf_counter() - started) * 1000)
    answer = msgspec.json.decode(reply.data, type=RiskCheckReply)
    started = time.perf_counter()
    in_flight = 50
    for _ in range(count // in_flight):
        await asyncio.gather(
            *[nc.request(subjects.risk_check(acct), request, timeout=10) for _ in range(in_flight)]
        )
    concurrent_rate = (count // in_flight * in_flight) / (time.perf_counter() - started)
    return {
        "p50_ms": pct(latencies, 0.5),
        "p99_ms": pct(latencies, 0.99),
        "sequential_per_s": round(1000 / statistics.mean(latencies), 1),
        "concurrent_per_s": round(concurrent_rate, 1),
        "approved": answer.approved,
    }


async def _run(ctx: BenchContext) -> dict[str, Any]:
    accounts = 200 if ctx.quick else 1_000
    total = 50_000 if ctx.quick else 1_000_000
    breachers = 50 if ctx.quick else 200
    config_path = write_config(ctx.work_dir / "engine-bench.yaml", accounts + breachers)
    config = load_config(config_path)
    with EmbeddedNatsServer(data_dir=ctx.work_dir / "engine-nats") as server:
        nc = await nats.connect(server.url)
        js = nc.jetstream()
        await ensure_topology(js)
        log(f"publishing {total:,} facts over {accounts} accounts")
        started = time.perf_counter()
        last_seq = await publish(js, facts(accounts, total))
        log(f"published in {time.perf_counter() - started:.0f}s")
        raw = await raw_ordered_read(js, total)
        ours_read = await reader_read(js, last_seq)
        log(f"raw ordered read {raw:,.0f}/s, engine's reader alone {ours_read:,.0f}/s")
        rss_before = rss_mb()
        process = await build_engine(config, server.url)
        stop = asyncio.Event()
        elapsed, engine_task = await catch_up(process, last_seq, stop)
        engine_rate = total / elapsed
        per_account_kb = (rss_mb() - rss_before) * 1024 / (accounts + breachers)
        stats = process.engine.stats
        log(
            f"engine {engine_rate:,.0f} facts/s ({stats.decided} decided, "
            f"{process.engine.pipeline.commits} commits)"
        )
        latency = await breach_latency(
            nc, js, [account_id(accounts + i) for i in range(breachers)], accounts, 2000.0
        )
        log(f"breach -> CloseAll {latency}")
        checks = await pretrade(nc, js, account_id(0), 200 if ctx.quick else 1000)
        log(f"{subjects.RISK_CHECK_PREFIX} {checks}")
        stop.set()
        await engine_task
        started = time.perf_counter()
        verified = await run_verify(nc, process.store)
        audit_s = time.perf_counter() - started
        log(verified.summary())
        await nc.close()
    return {
        "workload": {"accounts": accounts, "facts": total},
        "raw_ordered_read_per_s": round(raw),
        "engine_reader_alone_per_s": round(ours_read),
        "engine_facts_per_s": round(engine_rate),
        "engine_ratio_to_raw_read": round(engine_rate / raw, 3),
        "engine_target_ratio": 0.5,
        "engine_commits": process.engine.pipeline.commits,
        "engine_events": process.engine.pipeline.events_committed,
        "breach_to_close_all": latency,
        "breach_target": {"p50_ms": 5, "p99_ms": 25},
        "risk_check": checks,
        "memory_kb_per_account": round(per_account_kb, 1),
        "audit_verify": {
            "identical": verified.identical,
            "facts": verified.facts,
            "decisions": verified.decisions,
            "facts_per_s": round(verified.facts / audit_s),
            "target_facts_per_s": 50_000,
            "ratio_to_raw_read": round(verified.facts / audit_s / raw, 3),
        },
    }


def run(ctx: BenchContext) -> dict[str, Any]:
    return asyncio.run(_run(ctx))


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory(prefix="mtq-bench-") as tmp:
        quick = "--quick" in sys.argv
        print(run(BenchContext(nats_url="", server=None, work_dir=Path(tmp), quick=quick)))  # type: ignore[arg-type]
