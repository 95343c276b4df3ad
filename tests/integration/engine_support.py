"""Helpers for risk-engine tests: facts as an agent publishes them, RISK and CMD read back."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import msgspec
from nats.aio.client import Client
from nats.js.client import JetStreamContext
from nats.js.errors import NotFoundError

from bus import subjects
from bus.codec import encode, fact_msg_id
from bus.schemas import (
    AccountSnapshot,
    AgentHeartbeat,
    OrderExecuted,
    PositionClosed,
    PositionOpened,
    TickReceived,
)
from bus.schemas.base import Message
from bus.security.client import ClientAuth
from config import MtqConfig, load_config
from engine.bootstrap import EngineProcess, build_engine
from engine.store import open_store

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday


def write_config(tmp: Path, accounts_yaml: str, name: str = "engine.yaml") -> Path:
    path = tmp / name
    path.write_text(
        "defaults:\n"
        "  symbols:\n"
        "    - {name: EURUSD, digits: 5, contract_size: 100000, max_spread_pips: 3,"
        " stale_feed_seconds: 30}\n"
        "    - {name: XAUUSD, digits: 2, contract_size: 100}\n"
        f"accounts:\n{accounts_yaml}"
    )
    return path


def load(path: Path) -> MtqConfig:
    return load_config(path)


@dataclass
class FactFeed:
    """Publishes facts for accounts like an agent does (Nats-Msg-Id, one subject each)."""

    js: JetStreamContext
    counter: int = 0
    now: datetime = T0

    async def publish(self, subject: str, message: Message, source: str) -> int:
        self.counter += 1
        account_id = subject.split(".")[1]
        kind = subject.split(".", 2)[2]
        ack = await self.js.publish(
            subject,
            encode(message),
            headers={"Nats-Msg-Id": fact_msg_id(account_id, kind, f"{source}-{self.counter}")},
        )
        return int(ack.seq)

    async def snapshot(
        self,
        account_id: str,
        balance: float,
        equity: float,
        at: datetime | None = None,
        currency: str = "USD",
    ) -> int:
        at = at or self.now
        fact = AccountSnapshot(
            account_id=account_id,
            login=1,
            balance=balance,
            equity=equity,
            margin=0.0,
            margin_free=equity,
            margin_level=0.0,
            profit=round(equity - balance, 2),
            currency=currency,
            server="sim",
            time=at,
        )
        return await self.publish(subjects.account_snapshot(account_id), fact, at.isoformat())

    async def opened(  # noqa: PLR0917 - an agent's position fields
        self,
        account_id: str,
        identifier: int,
        symbol: str = "EURUSD",
        volume: float = 0.1,
        side: Literal["buy", "sell"] = "buy",
        price: float = 1.085,
        sl: float = 0.0,
        at: datetime | None = None,
    ) -> int:
        at = at or self.now
        fact = PositionOpened(
            account_id=account_id,
            ticket=identifier,
            identifier=identifier,
            symbol=symbol,
            side=side,
            volume=volume,
            price_open=price,
            price_current=price,
            sl=sl,
            reason="expert",
            time_msc=int(at.timestamp() * 1000),
        )
        return await self.publish(
            subjects.position(account_id, "opened"), fact, f"opened-{identifier}"
        )

    async def closed(
        self,
        account_id: str,
        identifier: int,
        profit: float = 0.0,
        at: datetime | None = None,
        symbol: str = "EURUSD",
    ) -> int:
        at = at or self.now
        msc = int(at.timestamp() * 1000)
        fact = PositionClosed(
            account_id=account_id,
            ticket=identifier,
            identifier=identifier,
            symbol=symbol,
            side="buy",
            volume=0.1,
            price_open=1.085,
            price_current=1.086,
            profit=profit,
            time_msc=msc,
            close_price=1.086,
            deal_reason="client",
            close_time_msc=msc,
        )
        return await self.publish(
            subjects.position(account_id, "closed"), fact, f"closed-{identifier}"
        )

    async def executed(self, account_id: str, command_id: str, at: datetime | None = None) -> int:
        fact = OrderExecuted(
            account_id=account_id,
            command_id=command_id,
            ticket=0,
            retcode=10009,
            time=at or self.now,
        )
        return await self.publish(subjects.order(account_id, "executed"), fact, command_id)

    async def heartbeat(self, account_id: str, at: datetime) -> int:
        fact = AgentHeartbeat(
            account_id=account_id,
            agent_id=f"agent-{account_id}",
            pid=1,
            terminal_connected=True,
            breaker_state="closed",
            terminal_latency_ms=1.0,
            time=at,
        )
        return await self.publish(subjects.health(account_id), fact, f"hb-{at.isoformat()}")

    async def tick(
        self, account_id: str, symbol: str, bid: float, ask: float, at: datetime
    ) -> None:
        fact = TickReceived(
            account_id=account_id,
            symbol=symbol,
            bid=bid,
            ask=ask,
            time_msc=int(at.timestamp() * 1000),
        )
        await self.js.publish(subjects.tick(account_id, symbol), encode(fact))

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


@dataclass
class Decision:
    account_id: str
    version: int
    type: str
    body: dict[str, Any]
    raw: bytes = field(repr=False, default=b"")


def read_decisions(url: str, auth: ClientAuth | None = None) -> list[Decision]:
    """Every event in RISK, in stream order (as `auth` on a secured server)."""
    store = open_store(url, auth=auth)
    out: list[Decision] = []
    start = 1
    while True:
        page = store.recorder.select_notifications(start, 1000)
        for n in page:
            event = store.mapper.to_domain_event(n)
            out.append(
                Decision(
                    getattr(event, "account_id", ""),
                    n.originator_version,
                    n.topic.rsplit(":", 1)[-1].rsplit(".", 1)[-1],
                    json.loads(n.state),
                    n.state,
                )
            )
        if len(page) < 1000:
            return out
        start = page[-1].id + 1


async def stream_messages(
    js: JetStreamContext, stream: str
) -> list[tuple[str, dict[str, Any], dict[str, str]]]:
    """(subject, JSON body, headers) of every message a stream holds now."""
    info = await js.stream_info(stream)
    found: list[tuple[str, dict[str, Any], dict[str, str]]] = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        try:
            msg = await js.get_msg(stream, seq)
        except NotFoundError:
            continue
        body = msgspec.json.decode(msg.data or b"{}")
        found.append((msg.subject or "", body, dict(msg.headers or {})))
    return found


@contextlib.asynccontextmanager
async def running_engine(
    url: str, config: MtqConfig, **options: Any
) -> AsyncIterator[EngineProcess]:
    """An engine wired like `mtq engine run`, running until the block ends."""
    process = await build_engine(config, url, **options)
    stop = asyncio.Event()
    task = asyncio.create_task(process.run(stop))
    try:
        await asyncio.wait_for(process.engine.ready.wait(), 20)
        yield process
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)


async def settled(process: EngineProcess, last_seq: int, timeout: float = 10.0) -> None:  # noqa: ASYNC109
    """Wait until the engine has committed decisions up to fact `last_seq`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while process.engine.pipeline.committed_seq < last_seq:
        if loop.time() > deadline:
            raise AssertionError(
                f"engine committed {process.engine.pipeline.committed_seq}, wanted {last_seq}"
            )
        await asyncio.sleep(0.02)


async def connect_js(url: str) -> tuple[Client, JetStreamContext]:
    import nats

    nc = await nats.connect(url)
    return nc, nc.jetstream()
