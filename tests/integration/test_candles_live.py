"""Candles from MT5_TICKS on a real nats-server: the tick projector, its restarts, the
projector process that runs it, GET /symbols/{symbol}/bars and mtq.query.bars."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client

from bus import subjects
from bus.codec import encode
from bus.embedded import EmbeddedNatsServer
from bus.schemas import TickReceived
from bus.topology import ensure_topology
from mtq.http import ApiSettings
from projections.bootstrap import build_projector
from projections.candle_projector import CandleProjector
from projections.candles import CandleBook
from projections.db import Database, open_database
from projections.service import QueryService, add_query_service
from projections.settings import AccountSettings
from tests.integration.test_api_support import running_api
from tests.support import eventually
from tests.unit.test_candles import T0_MSC, rows

pytestmark = [pytest.mark.nats]


def tick(i: int, account: str = "c-1", symbol: str = "EURUSD") -> TickReceived:
    """Tick i: every 7 s, the bid walking up and down by a pip."""
    bid = round(1.1 + 0.0001 * ((i * 7) % 11 - 5), 5)
    return TickReceived(
        account_id=account, symbol=symbol, bid=bid, ask=round(bid + 0.0002, 5),
        volume=float(i % 3), time_msc=T0_MSC + i * 7000,
    )  # fmt: skip


@pytest.fixture
async def nc(fresh_nats_server: EmbeddedNatsServer) -> AsyncIterator[Client]:
    client = await nats.connect(fresh_nats_server.url)
    await ensure_topology(client.jetstream())
    try:
        yield client
    finally:
        await client.close()


async def publish(nc: Client, ticks: list[TickReceived]) -> int:
    js = nc.jetstream()
    seq = 0
    for t in ticks:
        ack = await js.publish(subjects.tick(t.account_id, t.symbol), encode(t))
        seq = ack.seq
    return seq


def expected_rows(tmp_path: Path, ticks: list[TickReceived]) -> list[tuple[object, ...]]:
    """The rows one book makes of the ticks in one go, in a database of their own."""
    db = open_database(f"sqlite:///{tmp_path / 'expected.sqlite'}")
    try:
        book = CandleBook(lambda series, start: None)
        for t in ticks:
            book.apply(t)
        with db.transaction() as cur:
            book.save(cur)
        return rows(db)
    finally:
        db.close()


async def project(db: Database, nc: Client, until: int) -> CandleProjector:
    candles = await CandleProjector.open(db, nc.jetstream, batch=50)
    await asyncio.wait_for(candles.run(asyncio.Event(), until=until), 30)
    return candles


async def test_candles_when_projected_with_restarts_then_as_one_pass_over_the_ticks(
    nc: Client, tmp_path: Path
) -> None:
    ticks = [tick(i) for i in range(400)] + [tick(i, symbol="GBPUSD") for i in range(50)]
    db = open_database(f"sqlite:///{tmp_path / 'views.sqlite'}")
    try:
        first = await publish(nc, ticks[:230])
        done = await project(db, nc, first)
        assert done.position == first
        assert done.stats.ticks == 230
        last = await publish(nc, ticks[230:])
        again = await project(db, nc, last)  # a restart: from the committed position on
        assert again.stats.ticks == len(ticks) - 230
        assert rows(db) == expected_rows(tmp_path, ticks)
    finally:
        db.close()


async def test_projector_process_when_running_then_keeps_the_candles(
    fresh_nats_server: EmbeddedNatsServer, nc: Client, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'views.sqlite'}"
    await publish(nc, [tick(i) for i in range(30)])
    settings = {"c-1": AccountSettings(account_id="c-1")}
    process = await build_projector(settings, fresh_nats_server.url, db_url=url)
    stop = asyncio.Event()
    running = asyncio.create_task(process.run(stop))
    reader = open_database(url)
    try:

        def ticks_counted() -> bool:
            found = reader.query("SELECT SUM(tick_volume) FROM proj_candles WHERE tf = 'D1'")
            return found == [(30,)]

        await eventually(ticks_counted, timeout=20, message="30 ticks in the D1 bar")
    finally:
        stop.set()
        await asyncio.wait_for(running, 20)
        reader.close()


@pytest.fixture
async def projected(nc: Client, tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'views.sqlite'}"
    db = open_database(url)
    try:
        last = await publish(nc, [tick(i) for i in range(100)] + [tick(0, account="c-0")])
        await project(db, nc, last)
    finally:
        db.close()
    return url


async def test_bars_route_when_asked_then_the_symbols_bars(projected: str) -> None:
    async with running_api(ApiSettings(db_url=projected)) as api, api.client() as client:
        r = await client.get("/symbols/EURUSD/bars", params={"tf": "M1", "account": "c-1"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["symbol"], body["tf"], body["account_id"]) == ("EURUSD", "M1", "c-1")
        # 100 ticks 7 s apart from 09:00:00: 700 s, so minutes 0 to 11
        assert len(body["bars"]) == 12
        assert body["bars"][0]["time"] == "2026-03-02T09:00:00+00:00"
        assert sum(b["tick_volume"] for b in body["bars"]) == 100
        assert not any(b["filled"] for b in body["bars"])
        h1 = (await client.get("/symbols/EURUSD/bars", params={"tf": "H1"})).json()
        assert h1["account_id"] == "c-0"  # the first account by id
        ranged = await client.get(
            "/symbols/EURUSD/bars",
            params={"account": "c-1", "from": "2026-03-02T09:05:00Z", "limit": 3},
        )
        assert [b["time"][11:16] for b in ranged.json()["bars"]] == ["09:09", "09:10", "09:11"]
        assert (await client.get("/symbols/XAUUSD/bars")).status_code == 404
        assert (await client.get("/symbols/EURUSD/bars?tf=M2")).status_code == 422


async def test_query_bars_when_asked_on_nats_then_the_bars(nc: Client, projected: str) -> None:
    service = QueryService(open_database(projected), {})
    micro = await add_query_service(nc, service)
    try:
        body = json.dumps({"symbol": "EURUSD", "tf": "M5", "account": "c-1"}).encode()
        reply = json.loads((await nc.request(subjects.query("bars"), body, timeout=5)).data)
        assert reply["account"] == "c-1"
        assert [b["tick_volume"] for b in reply["bars"]] == [43, 43, 14]  # 300 s / 7 s
        missing = await nc.request(subjects.query("bars"), b'{"symbol": "XAUUSD"}', timeout=5)
        assert missing.headers is not None
        assert missing.headers["Nats-Service-Error-Code"] == "404"
    finally:
        await micro.stop()
        service.close()
