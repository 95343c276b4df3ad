"""HTTP API: GET /accounts/{id} and GET /accounts with 1,000 accounts in the views, and
breach-to-webhook latency.

The API runs as its own process (one uvicorn worker, httptools + uvloop) on views seeded with
the projector's own code; the load generator is a raw keep-alive HTTP/1.1 client on loopback
(asyncio, several connections), measuring requests/s and latency percentiles. The breach
latency is from publishing a `DrawdownBreached` decision on RISK to the signed webhook POST
arriving at a receiver in this process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.context import BenchContext

ACCOUNTS = 1000


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def seed(db_url: str, count: int) -> list[str]:
    """`count` accounts with rules, a day, a snapshot, a heartbeat and a position each."""
    from bus import subjects
    from bus.codec import encode
    from bus.schemas import AccountSnapshot, AgentHeartbeat, PositionOpened
    from projections.db import open_database
    from projections.settings import AccountSettings
    from projections.views import Views

    ids = [f"acc-{i:04d}" for i in range(count)]
    views = Views({a: AccountSettings(account_id=a) for a in ids})
    now = datetime.now(UTC)
    seq = nid = 0
    for account_id in ids:
        for kind, data in (
            (
                "AccountRegistered",
                {"rules": {"daily_loss": {"limit_percent": 5}, "max_loss": {"limit_percent": 10}}},
            ),
            (
                "TradingDayStarted",
                {
                    "day": now.date().isoformat(),
                    "start": now.isoformat(),
                    "end": (now + timedelta(days=1)).isoformat(),
                    "initial_capital": 1e5,
                    "anchor": 1e5,
                    "anchor_balance": 1e5,
                    "anchor_equity": 1e5,
                    "daily_floor": 95000.0,
                    "max_floor": 90000.0,
                },
            ),
        ):
            nid += 1
            body = {"account_id": account_id, "timestamp": now.isoformat(), **data}
            views.apply_decision(nid, subjects.risk_events(account_id, nid, kind), body)
        facts = [
            (
                subjects.account_snapshot(account_id),
                AccountSnapshot(
                    account_id=account_id,
                    login=1,
                    balance=1e5,
                    equity=99500.0,
                    margin=10.0,
                    margin_free=99490.0,
                    margin_level=9950.0,
                    profit=-500.0,
                    currency="USD",
                    server="Sim",
                    time=now,
                ),
            ),
            (
                subjects.health(account_id),
                AgentHeartbeat(
                    account_id=account_id,
                    agent_id="a",
                    pid=1,
                    terminal_connected=True,
                    breaker_state="closed",
                    terminal_latency_ms=1.0,
                    last_tick_age_s={"EURUSD": 0.1},
                    time=now + timedelta(hours=1),
                ),
            ),
            (
                subjects.position(account_id, "opened"),
                PositionOpened(
                    account_id=account_id,
                    ticket=1,
                    identifier=1,
                    symbol="EURUSD",
                    side="buy",
                    volume=0.1,
                    price_open=1.08,
                    price_current=1.08,
                    time_msc=int(now.timestamp() * 1000),
                ),
            ),
        ]
        for subject, fact in facts:
            seq += 1
            views.apply_fact(seq, subject, encode(fact))
    db = open_database(db_url)
    with db.transaction() as cur:
        views.save(cur)
    db.close()
    return ids


def serve(argv: list[str]) -> None:
    """Subprocess entry: the API over DB_URL on PORT (optionally NATS and webhooks)."""
    from config.models import WebhookConfig
    from mtq.bootstrap import build_api
    from mtq.http.state import ApiSettings

    options = json.loads(argv[0])
    hooks = tuple(WebhookConfig(**h) for h in options.get("webhooks", ()))
    settings = ApiSettings(
        db_url=options["db_url"],
        port=options["port"],
        nats_url=options.get("nats_url"),
        webhooks=hooks,
        environ={"BENCH_SECRET": "s"},
    )

    async def main() -> None:
        server = build_api(settings)
        await server.start()
        print("ready", flush=True)
        await server.done

    import uvloop

    uvloop.run(main())


def _spawn(options: dict[str, Any]) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.bench_api", "serve", json.dumps(options)],
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if b"ready" not in line:
        proc.kill()
        raise RuntimeError(f"bench API did not start: {line!r}")
    return proc


async def _connection(port: int, paths: list[str], until: float, latencies: list[float]) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    done = 0
    try:
        while time.perf_counter() < until:
            path = random.choice(paths)
            started = time.perf_counter()
            writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            status = head[9:12]
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if status != b"200":
                raise RuntimeError(f"{path}: HTTP {status!r}")
            done += 1
    finally:
        writer.close()
    return done


def _load(port: int, paths: list[str], seconds: float, connections: int) -> dict[str, float]:
    latencies: list[float] = []

    async def main() -> int:
        until = time.perf_counter() + seconds
        counts = await asyncio.gather(
            *(_connection(port, paths, until, latencies) for _ in range(connections))
        )
        return sum(counts)

    started = time.perf_counter()
    import uvloop

    total = uvloop.run(main())
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": total,
        "req_per_s": round(total / elapsed, 1),
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 2),
        "connections": connections,
    }


def _reads(ctx: BenchContext) -> dict[str, Any]:
    db_url = f"sqlite:///{ctx.work_dir / 'bench-api-views.sqlite'}"
    ids = seed(db_url, ACCOUNTS)
    port = _free_port()
    proc = _spawn({"db_url": db_url, "port": port})
    seconds = 3.0 if ctx.quick else 10.0
    try:
        _load(port, ["/accounts/" + ids[0]], 1.0, 8)  # warm up
        one = _load(port, [f"/accounts/{a}" for a in ids], seconds, 8)
        page = _load(port, ["/accounts?limit=100"], seconds, 8)
        everything = _load(port, ["/accounts?limit=1000"], seconds / 2, 4)
    finally:
        proc.terminate()
        proc.wait(10)
    return {
        "accounts_in_views": ACCOUNTS,
        "get_account": one,
        "get_accounts_page_100": page,
        "get_accounts_all_1000": everything,
        "target": {"req_per_s": 1500, "p99_ms": 20},
    }


async def _breaches(ctx: BenchContext, samples: int) -> dict[str, Any]:
    import nats
    import uvicorn

    from bus import subjects
    from bus.topology import ensure_topology

    arrived: dict[int, float] = {}
    all_in = asyncio.Event()

    async def receiver(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        arrived[int(json.loads(body)["data"]["value"])] = time.perf_counter()
        if len(arrived) >= samples:
            all_in.set()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    hook_port = _free_port()
    hook = uvicorn.Server(
        uvicorn.Config(
            receiver, host="127.0.0.1", port=hook_port, log_level="warning", lifespan="off"
        )
    )
    hook_task = asyncio.create_task(hook.serve())
    nc = await nats.connect(ctx.nats_url)
    await ensure_topology(nc.jetstream())
    db_url = f"sqlite:///{ctx.work_dir / 'bench-api-breach.sqlite'}"
    seed(db_url, 10)
    port = _free_port()
    proc = _spawn(
        {
            "db_url": db_url,
            "port": port,
            "nats_url": ctx.nats_url,
            "webhooks": [
                {"url": f"http://127.0.0.1:{hook_port}/hook", "secret_env": "BENCH_SECRET"}
            ],
        }
    )
    sent: dict[int, float] = {}
    try:
        await asyncio.sleep(2.0)  # the API's live feed subscribes
        js = nc.jetstream()
        for i in range(samples):
            account = f"acc-{i % 10:04d}"
            body = {
                "account_id": account,
                "timestamp": datetime.now(UTC).isoformat(),
                "rule": "daily",
                "value": 90000 + i,
                "floor": 95000.0,
                "limit": 5000.0,
                "anchor": 1e5,
                "breach_when": "below",
                "action": "liquidate",
                "holds": None,
            }
            sent[90000 + i] = time.perf_counter()
            await js.publish(
                subjects.risk_events(account, 1000 + i, "DrawdownBreached"),
                json.dumps(body).encode(),
            )
            await asyncio.sleep(0.05)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(all_in.wait(), 15)
    finally:
        proc.terminate()
        proc.wait(10)
        await nc.close()
        hook.should_exit = True
        await hook_task
    latencies = sorted((arrived[k] - sent[k]) * 1000 for k in sent if k in arrived)
    if not latencies:
        return {"samples": samples, "delivered": 0}
    return {
        "samples": samples,
        "delivered": len(latencies),
        "p50_ms": round(statistics.median(latencies), 2),
        "p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 2),
    }


def run(ctx: BenchContext) -> dict[str, Any]:
    result = _reads(ctx)
    result["breach_to_webhook"] = asyncio.run(_breaches(ctx, 20 if ctx.quick else 100))
    return result


if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "serve":
    serve(sys.argv[2:])
