"""A synthetic fact log for the engine benchmark: many accounts, mostly account snapshots."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from nats.js.api import PubAck
from nats.js.client import JetStreamContext

from bus import subjects
from bus.codec import encode, fact_msg_id
from bus.schemas import AccountSnapshot, PositionClosed, PositionOpened

START = datetime(2026, 6, 1, 6, 0, tzinfo=UTC)


def account_id(index: int) -> str:
    return f"b{index:04d}"


def write_config(path: Path, accounts: int, symbols_yaml: str = "") -> Path:
    lines = [
        "defaults:",
        "  symbols:",
        "    - {name: EURUSD, digits: 5, contract_size: 100000, max_spread_pips: 5,"
        " stale_feed_seconds: 3600}",
        "  risk:",
        "    initial_capital: 100000",
        "    daily_loss: {limit_percent: 5, timezone: Europe/Prague}",
        "    max_loss: {kind: trailing_intraday, limit_percent: 10}",
        "accounts:",
        *(f"  - id: {account_id(i)}" for i in range(accounts)),
    ]
    path.write_text("\n".join(lines) + symbols_yaml + "\n")
    return path


def facts(accounts: int, count: int, seed: int = 3) -> Iterator[tuple[str, bytes, str]]:
    """`count` facts round-robin over `accounts`: ~90% snapshots, opens and closes."""
    rng = random.Random(seed)
    equity = [100_000.0] * accounts
    open_ids: list[list[int]] = [[] for _ in range(accounts)]
    for n in range(count):
        index = n % accounts
        acct = account_id(index)
        now = START + timedelta(milliseconds=50 * n)
        roll = rng.random()
        if roll < 0.05 and len(open_ids[index]) < 3:
            ident = n + 1
            open_ids[index].append(ident)
            fact = PositionOpened(
                account_id=acct, ticket=ident, identifier=ident, symbol="EURUSD", side="buy",
                volume=0.1, price_open=1.085, price_current=1.085, sl=1.08, reason="expert",
                time_msc=int(now.timestamp() * 1000),
            )  # fmt: skip
            yield subjects.position(acct, "opened"), encode(fact), fact_msg_id(acct, "p", ident)
        elif roll < 0.1 and open_ids[index]:
            ident = open_ids[index].pop()
            msc = int(now.timestamp() * 1000)
            closed = PositionClosed(
                account_id=acct, ticket=ident, identifier=ident, symbol="EURUSD", side="buy",
                volume=0.1, price_open=1.085, price_current=1.086, profit=10.0, time_msc=msc,
                close_price=1.086, deal_reason="tp", close_time_msc=msc,
            )  # fmt: skip
            yield subjects.position(acct, "closed"), encode(closed), fact_msg_id(acct, "c", ident)
        else:
            equity[index] = round(equity[index] * (1 + rng.gauss(0, 0.0004)), 2)
            snap = AccountSnapshot(
                account_id=acct, login=index, balance=100_000.0, equity=equity[index],
                margin=0.0, margin_free=equity[index], margin_level=0.0,
                profit=round(equity[index] - 100_000, 2), currency="USD", server="bench",
                time=now,
            )  # fmt: skip
            yield subjects.account_snapshot(acct), encode(snap), fact_msg_id(acct, "a", n)


async def publish(js: JetStreamContext, items: Iterator[tuple[str, bytes, str]]) -> int:
    """Publish everything with acks in windows of 5,000; returns the last sequence."""
    last = 0
    window: list[asyncio.Future[PubAck]] = []

    async def drain() -> None:
        nonlocal last
        for ack in await asyncio.gather(*window):
            last = max(last, int(ack.seq))
        window.clear()

    for subject, data, msg_id in items:
        window.append(await js.publish_async(subject, data, headers={"Nats-Msg-Id": msg_id}))
        if len(window) >= 5_000:
            await drain()
    await drain()
    return last
