"""JetStream event store vs the library's POPO, SQLite and PostgreSQL recorders.

Workloads: (a) N aggregates x 10 events saved one aggregate at a time (1 and 4 threads),
(b) reconstructing them, (c) reading the notification log, (d) process-recorder inserts
with tracking, (e) insert-to-delivery latency of subscribe(). Ours also runs on a second
nats-server without `sync_interval: always` to show what durability costs.
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import nats
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import (
    ApplicationRecorder,
    InfrastructureFactory,
    StoredEvent,
    Tracking,
)
from eventsourcing.utils import Environment
from nats.js.api import StorageType, StreamConfig

from bench.context import BenchContext
from bench.postgres import postgres_env
from bus.embedded import find_binary, free_port

EVENTS_PER_AGGREGATE = 10


class Counter(Aggregate):
    @event("Ticked")
    def tick(self, n: int) -> None:
        self.n = n


def log(text: str) -> None:
    print(f"[eventstore] {text}", file=sys.stderr, flush=True)


def new_app(env: dict[str, str]) -> Application[Any]:
    name = f"bench{uuid.uuid4().hex[:8]}"
    app_class: type[Application[Any]] = type(name, (Application,), {"name": name})
    return app_class(env=env)


def save_aggregates(app: Application[Any], count: int, threads: int) -> tuple[float, list[Any]]:
    """Save `count` aggregates of 10 events each; return (events/s, ids)."""

    def save_one(_: int) -> Any:
        counter = Counter()
        for n in range(EVENTS_PER_AGGREGATE - 1):
            counter.tick(n)
        app.save(counter)
        return counter.id

    started = time.perf_counter()
    if threads == 1:
        ids = [save_one(i) for i in range(count)]
    else:
        with ThreadPoolExecutor(threads) as pool:
            ids = list(pool.map(save_one, range(count)))
    return count * EVENTS_PER_AGGREGATE / (time.perf_counter() - started), ids


def reconstruct(app: Application[Any], ids: list[Any]) -> float:
    started = time.perf_counter()
    for aggregate_id in ids:
        counter: Counter = app.repository.get(aggregate_id)
        assert counter.version == EVENTS_PER_AGGREGATE
    return len(ids) * EVENTS_PER_AGGREGATE / (time.perf_counter() - started)


def read_log(recorder: ApplicationRecorder, expected: int) -> float:
    started = time.perf_counter()
    count, start = 0, 0
    while True:
        page = recorder.select_notifications(start, 1000, inclusive_of_start=False)
        count += len(page)
        if len(page) < 1000:
            break
        start = page[-1].id
    assert count == expected, (count, expected)
    return count / (time.perf_counter() - started)


def process_inserts(env: dict[str, str], count: int) -> float:
    name = f"bench{uuid.uuid4().hex[:8]}"
    recorder = InfrastructureFactory.construct(Environment(name, env)).process_recorder()
    started = time.perf_counter()
    for i in range(1, count + 1):
        stored = StoredEvent(uuid.uuid4(), 1, "bench:Processed", b'{"n":1}')
        recorder.insert_events([stored], tracking=Tracking("upstream", i))
    return count / (time.perf_counter() - started)


def subscribe_latency(recorder: ApplicationRecorder, samples: int) -> dict[str, float]:
    received: dict[Any, float] = {}
    start = recorder.max_notification_id()
    subscription = recorder.subscribe(gt=start)
    done = threading.Event()

    def consume() -> None:
        with subscription:
            for notification in subscription:
                received[notification.originator_id] = time.perf_counter()
                if len(received) == samples:
                    done.set()
                    return

    consumer = threading.Thread(target=consume, daemon=True)
    consumer.start()
    sent: dict[Any, float] = {}
    for _ in range(samples):
        originator = uuid.uuid4()
        sent[originator] = time.perf_counter()
        recorder.insert_events([StoredEvent(originator, 1, "bench:Pinged", b"{}")])
        time.sleep(0.005)
    done.wait(30)
    subscription.stop()
    delays = sorted((received[k] - sent[k]) * 1000 for k in sent if k in received)
    return {
        "p50_ms": round(statistics.median(delays), 3),
        "p99_ms": round(delays[min(len(delays) - 1, int(len(delays) * 0.99))], 3),
    }


def run_backend(
    name: str, env: dict[str, str], n: int, n_process: int, samples: int
) -> dict[str, Any]:
    log(f"{name}: (a) {n} aggregates x {EVENTS_PER_AGGREGATE} events")
    app = new_app(env)
    result: dict[str, Any] = {}
    result["a_save"], ids = save_aggregates(app, n, threads=1)
    log(f"{name}: (b) reconstruct, (c) read log")
    result["b_reconstruct"] = reconstruct(app, ids)
    result["c_read_log"] = read_log(app.recorder, n * EVENTS_PER_AGGREGATE)
    app.close()
    log(f"{name}: (a) with 4 threads")
    app4 = new_app(env)
    result["a_save_4_threads"], _ = save_aggregates(app4, n, threads=4)
    log(f"{name}: (e) subscribe latency")
    try:
        result["e_subscribe"] = subscribe_latency(app4.recorder, samples)
    except NotImplementedError:
        result["e_subscribe"] = {"p50_ms": "n/a", "p99_ms": "n/a"}  # e.g. SQLite
    app4.close()
    log(f"{name}: (d) {n_process} process inserts with tracking")
    result["d_process"] = process_inserts(env, n_process)
    return {k: (round(v) if isinstance(v, float) else v) for k, v in result.items()}


@contextmanager
def nats_without_fsync(work_dir: Path) -> Iterator[str]:
    """A second nats-server like the embedded one but with the default sync interval."""
    port, monitor = free_port(), free_port()
    store = work_dir / "nosync"
    store.mkdir(parents=True, exist_ok=True)
    config = store / "nats.conf"
    config.write_text(
        f'host: "127.0.0.1"\nport: {port}\nhttp: "127.0.0.1:{monitor}"\n'
        f'jetstream {{\n  store_dir: "{store / "js"}"\n}}\n',
        encoding="utf-8",
    )
    process = subprocess.Popen(
        [str(find_binary()), "-c", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{monitor}/healthz", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield f"nats://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


def ours_env(url: str) -> dict[str, str]:
    return {
        "PERSISTENCE_MODULE": "bus.eventstore",
        "NATS_URL": url,
        "NATS_STREAM": f"BENCH_{uuid.uuid4().hex[:8].upper()}",
    }


def memory_stream_env(url: str) -> dict[str, str]:
    """Settings for ours on a MEMORY stream made beforehand (not durable; explanation only)."""
    env = ours_env(url)
    stream = env["NATS_STREAM"]

    async def create() -> None:
        nc = await nats.connect(url)
        try:
            await nc.jetstream().add_stream(
                StreamConfig(
                    name=stream,
                    subjects=[f"{stream.lower()}.>"],
                    storage=StorageType.MEMORY,
                    allow_atomic=True,
                    allow_direct=True,
                )
            )
        finally:
            await nc.close()

    asyncio.run(create())
    return env


def table(results: dict[str, dict[str, Any]]) -> str:
    rows = ["a_save", "a_save_4_threads", "b_reconstruct", "c_read_log", "d_process"]
    names = list(results)
    lines = [
        f"{'events/s':<18}"
        + "".join(f"{n:>14}" for n in names)
        + f"{'ours/SQLite':>13}{'ours/PG':>10}"
    ]
    for row in rows:
        values = [results[n].get(row) for n in names]
        ours, sqlite, pg = (float(results[k][row]) for k in ("ours", "sqlite", "postgres"))
        lines.append(
            f"{row:<18}"
            + "".join(f"{v if v is not None else '-':>14}" for v in values)
            + f"{ours / sqlite:>13.2f}{ours / pg:>10.2f}"
        )
    for stat in ("p50_ms", "p99_ms"):
        lines.append(
            f"{'e_' + stat:<18}"
            + "".join(
                f"{results[n]['e_subscribe'][stat]:>14}"
                for n in names
                if "e_subscribe" in results[n]
            )
        )
    return "\n".join(lines)


def run(ctx: BenchContext) -> dict[str, Any]:
    n = 500 if ctx.quick else 10_000
    n_process = 200 if ctx.quick else 2_000
    samples = 50 if ctx.quick else 300
    results: dict[str, dict[str, Any]] = {}
    results["popo"] = run_backend(
        "popo", {"PERSISTENCE_MODULE": "eventsourcing.popo"}, n, n_process, samples
    )
    sqlite_env = {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": str(ctx.work_dir / f"bench-{uuid.uuid4().hex[:8]}.db"),
    }
    results["sqlite"] = run_backend("sqlite", sqlite_env, n, n_process, samples)
    with postgres_env(ctx.work_dir) as pg:
        results["postgres"] = run_backend(
            "postgres",
            {"PERSISTENCE_MODULE": "eventsourcing.postgres", **pg},
            n,
            n_process,
            samples,
        )
    results["ours"] = run_backend("ours", ours_env(ctx.nats_url), n, n_process, samples)
    with nats_without_fsync(ctx.work_dir) as url:
        log("ours without sync_interval: always: (a) and (d)")
        app = new_app(ours_env(url))
        rate, _ = save_aggregates(app, max(n // 5, 100), threads=1)
        app.close()
        results["ours_no_fsync"] = {
            "a_save": round(rate),
            "d_process": round(process_inserts(ours_env(url), max(n_process // 4, 50))),
        }
    log("ours on a MEMORY stream (not durable, to show what batch staging costs): (a), (d)")
    mem = new_app(memory_stream_env(ctx.nats_url))
    rate, _ = save_aggregates(mem, max(n // 5, 100), threads=1)
    mem.close()
    mem4 = new_app(memory_stream_env(ctx.nats_url))
    rate4, _ = save_aggregates(mem4, max(n // 5, 100), threads=4)
    mem4.close()
    results["ours_memory"] = {
        "a_save": round(rate),
        "a_save_4_threads": round(rate4),
        "d_process": round(
            process_inserts(memory_stream_env(ctx.nats_url), max(n_process // 4, 50))
        ),
    }
    print(table(results), file=sys.stderr, flush=True)
    print(
        "ours_no_fsync: default sync interval; ours_memory: MEMORY stream, NOT durable "
        "(both for explanation only)",
        file=sys.stderr,
        flush=True,
    )
    ratios = {
        row: {
            "ours/sqlite": round(results["ours"][row] / results["sqlite"][row], 2),
            "ours/postgres": round(results["ours"][row] / results["postgres"][row], 2),
        }
        for row in ("a_save", "a_save_4_threads", "b_reconstruct", "c_read_log", "d_process")
    }
    return {
        "workload": {"aggregates": n, "process_inserts": n_process},
        "results": results,
        "ratios": ratios,
    }


def main() -> None:
    """Run this benchmark alone: python -m bench.bench_eventstore [--quick]."""
    import tempfile

    from bus.embedded import EmbeddedNatsServer

    with (
        tempfile.TemporaryDirectory(prefix="mtq-bench-") as tmp,
        EmbeddedNatsServer(data_dir=Path(tmp) / "nats") as server,
    ):
        ctx = BenchContext(
            nats_url=server.url, server=server, work_dir=Path(tmp), quick="--quick" in sys.argv
        )
        print(run(ctx))


_: Callable[[BenchContext], dict[str, Any]] = run

if __name__ == "__main__":
    main()
