"""The HTTP API test rig: views seeded through the projector's own code, an app on a port.

`seed_views` applies real facts and decisions with `projections.views.Views` and commits them
the way the projector does, so the API reads exactly what a projector would have written.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import uvicorn

from bus import subjects
from bus.codec import encode
from bus.schemas import AccountSnapshot, AgentHeartbeat, PositionClosed, PositionOpened
from mtq.http import ApiSettings, create_app
from mtq.http.state import ApiState
from projections.db import open_database
from projections.settings import AccountSettings
from projections.views import Views

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
RULES: dict[str, Any] = {
    "daily_loss": {"limit_percent": 5.0, "kind": "daily"},
    "max_loss": {"limit_percent": 10.0, "kind": "static"},
}


def msc(at: datetime) -> int:
    return int(at.timestamp() * 1000)


@dataclass
class Seeder:
    """Facts and decisions for a few accounts, applied to views and committed."""

    db_url: str
    accounts: tuple[str, ...]
    settings: dict[str, AccountSettings] = field(init=False)
    views: Views = field(init=False)
    seq: int = 0
    nid: int = 0

    def __post_init__(self) -> None:
        self.settings = {a: AccountSettings(account_id=a) for a in self.accounts}
        self.views = Views(self.settings)

    def fact(self, subject: str, message: Any) -> None:
        self.seq += 1
        self.views.apply_fact(self.seq, subject, encode(message))

    def decision(self, account_id: str, kind: str, at: datetime, **data: Any) -> int:
        self.nid += 1
        body = {"account_id": account_id, "timestamp": at.isoformat(), **data}
        self.views.apply_decision(self.nid, subjects.risk_events(account_id, self.nid, kind), body)
        return self.nid

    def heartbeat(self, account_id: str, at: datetime, *, connected: bool = True) -> None:
        self.fact(
            subjects.health(account_id),
            AgentHeartbeat(
                account_id=account_id,
                agent_id=f"agent-{account_id}",
                pid=100,
                terminal_connected=connected,
                breaker_state="closed",
                terminal_latency_ms=3.0,
                last_tick_age_s={"EURUSD": 0.2},
                time=at,
            ),
        )

    def snapshot(self, account_id: str, at: datetime, equity: float, balance: float) -> None:
        self.fact(
            subjects.account_snapshot(account_id),
            AccountSnapshot(
                account_id=account_id,
                login=1,
                balance=balance,
                equity=equity,
                margin=100.0,
                margin_free=equity - 100.0,
                margin_level=1000.0,
                profit=equity - balance,
                currency="USD",
                server="Sim",
                time=at,
            ),
        )

    def opened(self, account_id: str, ident: int, at: datetime, symbol: str = "EURUSD") -> None:
        self.fact(
            subjects.position(account_id, "opened"),
            PositionOpened(
                account_id=account_id,
                ticket=ident,
                identifier=ident,
                symbol=symbol,
                side="buy",
                volume=0.1,
                price_open=1.085,
                price_current=1.0852,
                sl=1.08,
                tp=1.09,
                magic=424242,
                reason="expert",
                time_msc=msc(at),
            ),
        )

    def closed(self, account_id: str, ident: int, at: datetime) -> None:
        self.fact(
            subjects.position(account_id, "closed"),
            PositionClosed(
                account_id=account_id,
                ticket=ident,
                identifier=ident,
                symbol="EURUSD",
                side="buy",
                volume=0.1,
                price_open=1.085,
                price_current=1.086,
                profit=10.0,
                magic=424242,
                reason="expert",
                time_msc=msc(at - timedelta(minutes=1)),
                close_price=1.086,
                deal_reason="tp",
                close_time_msc=msc(at),
            ),
        )

    def register(self, account_id: str, at: datetime, capital: float = 100000.0) -> None:
        self.decision(account_id, "AccountRegistered", at, rules=RULES)
        self.decision(
            account_id,
            "TradingDayStarted",
            at,
            day=at.date().isoformat(),
            start=at.isoformat(),
            end=(at + timedelta(days=1)).isoformat(),
            initial_capital=capital,
            anchor=capital,
            anchor_balance=capital,
            anchor_equity=capital,
            daily_floor=capital * 0.95,
            max_floor=capital * 0.9,
        )

    def commit(self) -> None:
        db = open_database(self.db_url)
        try:
            with db.transaction() as cur:
                self.views.save(cur)
            self.views.clear()
        finally:
            db.close()


def seed_views(db_url: str, accounts: Iterable[str], *, now: datetime | None = None) -> Seeder:
    """Accounts with rules, a day, equity minutes, positions; the first one breached."""
    ids = tuple(accounts)
    seeder = Seeder(db_url, ids)
    at = now or datetime.now(UTC) - timedelta(minutes=30)
    for i, account_id in enumerate(ids):
        seeder.register(account_id, at - timedelta(minutes=1))
        for minute in range(30):
            moment = at + timedelta(minutes=minute)
            seeder.snapshot(account_id, moment, 100000.0 - minute * 10 * (i + 1), 100000.0)
        seeder.heartbeat(account_id, datetime.now(UTC))
        seeder.opened(account_id, 1000 + i * 10, at + timedelta(minutes=1))
        seeder.opened(account_id, 1001 + i * 10, at + timedelta(minutes=2), symbol="GBPUSD")
        seeder.opened(account_id, 1002 + i * 10, at + timedelta(minutes=3))
        seeder.closed(account_id, 1002 + i * 10, at + timedelta(minutes=5))
    if ids:
        first = ids[0]
        seeder.decision(
            first,
            "DrawdownWarning",
            at + timedelta(minutes=20),
            rule="daily",
            value=4100.0,
            warning_level=4000.0,
            floor=95000.0,
        )
        seeder.decision(
            first,
            "TradingStateChanged",
            at + timedelta(minutes=21),
            state="HALTED",
            previous="ACTIVE",
            reason="daily loss",
            actor="risk",
            command_id="c1",
            holds={"daily": "HALTED"},
        )
    seeder.commit()
    return seeder


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class RunningApi:
    url: str
    settings: ApiSettings
    server: uvicorn.Server
    state: ApiState

    def client(self, token: str | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=10)


@contextlib.asynccontextmanager
async def running_api(settings: ApiSettings) -> AsyncIterator[RunningApi]:
    """The app on a free loopback port (uvicorn in this event loop) until the block ends."""
    port = free_port()
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(200):
            if server.started:
                break
            if task.done():
                task.result()
            await asyncio.sleep(0.02)
        yield RunningApi(f"http://127.0.0.1:{port}", settings, server, app.state.api)
    finally:
        app.state.api.hub.close()
        server.should_exit = True
        await asyncio.wait_for(task, 20)
