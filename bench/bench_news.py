"""Pre-trade with a news calendar in force: `mtq.risk.check` p99 on an account with a
`news_blackout` and a 1,000-event calendar (target p99 <= 2 ms, today's check), and the
blackout lookup alone (bisecting the calendar), with the same check before the import
measured in the same run for comparison."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import nats

from bench.bench_engine import _snapshot, pct, pretrade
from bench.context import BenchContext
from bench.engine_workload import account_id, write_config
from bus import subjects
from bus.codec import encode
from bus.embedded import EmbeddedNatsServer
from bus.topology import ensure_topology
from config import load_config
from domain import OrderRequest
from domain.news import Calendar, NewsEvent
from mtq.bootstrap import build_engine

EVENTS = 1_000
BLACKOUT = "\n    risk:\n      news_blackout: {impact: high, before_minutes: 2, after_minutes: 2}"


def calendar(now: datetime) -> Calendar:
    """1,000 events every 37 minutes around now, none whose window holds now."""
    currencies = ("USD", "EUR", "GBP", "JPY", "XAU")
    events = []
    for n in range(EVENTS):
        at = now + timedelta(minutes=37 * (n - EVENTS // 2) + 10)
        events.append(NewsEvent(at, "high", f"event {n}", (currencies[n % len(currencies)],)))
    return Calendar(tuple(events), "bench.csv")


async def _run(ctx: BenchContext) -> dict[str, Any]:
    config_path = write_config(ctx.work_dir / "news-bench.yaml", 1)
    text = config_path.read_text().replace("  - id: b0000", "  - id: b0000" + BLACKOUT)
    config_path.write_text(text)
    config = load_config(config_path)
    with EmbeddedNatsServer(data_dir=ctx.work_dir / "news-nats") as server:
        nc = await nats.connect(server.url)
        js = nc.jetstream()
        await ensure_topology(js)
        process = await build_engine(config, server.url)
        stop = asyncio.Event()
        task = asyncio.create_task(process.run(stop))
        await process.engine.ready.wait()
        acct = account_id(0)
        ack = await js.publish(subjects.account_snapshot(acct), encode(_snapshot(acct, 100_000)))
        while process.engine.pipeline.committed_seq < ack.seq:  # noqa: ASYNC110 - no event
            await asyncio.sleep(0.01)
        count = 200 if ctx.quick else 2000
        without = await pretrade(nc, js, acct, count)
        news = calendar(datetime.now(UTC))
        recorded, _ = await process.engine.import_calendar(news, "bench")
        checks = await pretrade(nc, js, acct, count)
        account = process.engine.decider.accounts[account_id(0)]
        request = OrderRequest("EURUSD", "buy", Decimal("0.01"), Decimal("1.0851"))
        domain_us = []
        for _ in range(2000 if ctx.quick else 20_000):
            started = time.perf_counter()
            account.blackout_reasons(request.symbol, datetime.now(UTC))
            domain_us.append((time.perf_counter() - started) * 1_000_000)
        account.collect_events()
        stop.set()
        await task
        await nc.close()
    return {
        "calendar_events": EVENTS,
        "recorded_on": recorded,
        "risk_check": checks,
        "risk_check_without_calendar": without,
        "risk_check_target_p99_ms": 2,
        "blackout_lookup_p99_us": pct(domain_us, 0.99),
    }


def run(ctx: BenchContext) -> dict[str, Any]:
    return asyncio.run(_run(ctx))
