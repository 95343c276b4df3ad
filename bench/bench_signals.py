"""Signals (issue 17): signal -> PlaceOrder on CMD with auto approval, signal ->
OrderExecuted from a real agent on the simulator, and signals/s accepted.

A real engine over 200 accounts (a server of its own) while every account keeps sending
snapshots: one strategy, `approval: auto`, fixed lots. Latency is from the request on
`mtq.orders.submit.admin` to the `PlaceOrder` arriving on `cmd.<acct>.place_order` (target
p99 <= 10 ms); throughput is sequential and 20 in flight, one account each. Then one more
account, `bsim`, has a real agent on a simulated terminal: latency from the request to its
`OrderExecuted` fact (the agent's `order_send` and answer included).
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

from agents.harness import simulator_account, start_agent
from agents.terminal.simulator import (
    DEFAULT_SYMBOLS,
    SimulatedTerminal,
    SimulatorSettings,
    StrategySpec,
)
from bench.context import BenchContext
from bench.engine_workload import account_id, write_config
from bus import subjects
from bus.codec import decode_fact, encode
from bus.embedded import EmbeddedNatsServer
from bus.schemas import AccountSnapshot, OrderExecuted, TickReceived
from bus.schemas.orders import SignalSubmit
from bus.topology import ensure_topology
from config import load_config
from domain.signals import signal_command_id
from engine.bootstrap import EngineProcess
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


SIM_ACCOUNT = "bsim"


def config_text(path: Path, accounts: int) -> Path:
    """The engine workload's config, plus `bsim` and room for the signals' positions."""
    write_config(path, accounts, STRATEGY)
    text = path.read_text().replace(
        "    initial_capital: 100000\n",
        "    initial_capital: 100000\n    max_positions: 100000\n"
        "    max_concurrent_trades: 100000\n",
    )
    text = text.replace("strategies:", f"  - id: {SIM_ACCOUNT}\nstrategies:", 1)
    path.write_text(text)
    return path


async def simulated_fills(
    process: EngineProcess, url: str, nc: Client, work: Path, count: int
) -> list[float]:
    """Signal -> OrderExecuted on `bsim`, one at a time, through a real agent."""
    settings = SimulatorSettings(
        seed=5, initial_balance=100_000.0, symbols=DEFAULT_SYMBOLS[:1],
        strategy=StrategySpec(kind="none"),
    )  # fmt: skip
    terminal = SimulatedTerminal(settings)
    agent = start_agent(simulator_account(SIM_ACCOUNT), terminal, nats_url=url,
                        data_dir=work / "bsim-agent")  # fmt: skip
    executed: dict[str, float] = {}
    answered = asyncio.Event()

    async def on_fact(msg: Msg) -> None:
        fact = decode_fact(msg.subject, msg.data)
        if isinstance(fact, OrderExecuted):
            executed[fact.command_id] = time.perf_counter()
            answered.set()

    sub = await nc.subscribe(subjects.order(SIM_ACCOUNT, "executed"), cb=on_fact)
    latencies: list[float] = []
    try:
        accounts = process.engine.decider.accounts
        for _ in range(3000):  # the agent's first snapshot reaches the engine
            if SIM_ACCOUNT in accounts and accounts[SIM_ACCOUNT].latest_snapshot_at is not None:
                break
            await asyncio.sleep(0.02)
        first = await nc.request(
            subjects.orders_submit("admin"), signal_body("sim-warm", SIM_ACCOUNT), 10
        )
        if b'"sent"' not in first.data:
            raise RuntimeError(f"the simulated account's first signal was not sent: {first.data!r}")
        for n in range(count):
            signal_id = f"sim-{n}"
            command_id = signal_command_id(signal_id, SIM_ACCOUNT)
            answered.clear()
            started = time.perf_counter()
            await nc.request(subjects.orders_submit("admin"),
                             signal_body(signal_id, SIM_ACCOUNT), 10)  # fmt: skip
            while command_id not in executed:
                await asyncio.wait_for(answered.wait(), 10)
                answered.clear()
            latencies.append((executed[command_id] - started) * 1000)
    finally:
        await sub.unsubscribe()
        await agent.close()
    return latencies


def signal_body(signal_id: str, acct: str) -> bytes:
    return encode(
        SignalSubmit(signal_id=signal_id, strategy="bench", accounts=(acct,), symbol="EURUSD",
                     side="buy")
    )  # fmt: skip


def signal(n: int, acct: str) -> bytes:
    body = SignalSubmit(
        signal_id=f"bench-{n}", strategy="bench", accounts=(acct,), symbol="EURUSD",
        side="buy", sl=1.0801,
    )  # fmt: skip
    return encode(body)


async def _run(ctx: BenchContext) -> dict[str, Any]:
    accounts = 200
    count = 200 if ctx.quick else 2_000
    config = load_config(config_text(ctx.work_dir / "signals.yaml", accounts))
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
        for _ in range(6000):  # mtq-orders is served once the engine has caught up
            if process.orders_micro is not None:
                break
            await asyncio.sleep(0.01)
        arrived: dict[str, float] = {}
        waiting: dict[str, asyncio.Event] = {}

        async def on_command(msg: Msg) -> None:
            signal_id = msg.data.split(b'"signal_id":"', 1)[1].split(b'"', 1)[0].decode()
            arrived[signal_id] = time.perf_counter()
            if signal_id in waiting:
                waiting[signal_id].set()

        sub = await nc.subscribe(subjects.commands_of_kind("place_order"), cb=on_command)
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
        log("signal -> OrderExecuted through a real agent on the simulator ...")
        fills = await simulated_fills(
            process, server.url, nc, ctx.work_dir, 50 if ctx.quick else 200
        )
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
        "signal_to_order_executed_on_simulator": {
            "signals": len(fills),
            "p50_ms": pct(fills, 0.5),
            "p99_ms": pct(fills, 0.99),
        },
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
