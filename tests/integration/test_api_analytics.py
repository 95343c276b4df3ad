"""Analytics over seeded views: GET /accounts/{id}/analytics and /trades, mtq.query.analytics."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from nats.aio.client import Client

from bus import subjects
from mtq.http import ApiSettings
from projections.db import open_database
from projections.service import QueryService, add_query_service
from tests.integration.test_api_support import RunningApi, Seeder, running_api, seed_views

ACCOUNTS = ("acc-a", "acc-b")
START = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)


def seed(url: str) -> Seeder:
    """seed_views (one +10 trade each, closed at START + 5 min), and on acc-a two more."""
    seeder = seed_views(url, ACCOUNTS, now=START)
    seeder.closed("acc-a", 1000, START + timedelta(minutes=10))  # +10
    seeder.closed("acc-a", 1001, START + timedelta(minutes=12))  # +10, seeded as GBPUSD
    seeder.commit()
    return seeder


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[RunningApi]:
    url = f"sqlite:///{tmp_path / 'views.sqlite'}"
    seeder = seed(url)
    async with running_api(ApiSettings(db_url=url, accounts=seeder.settings)) as running:
        yield running


async def get(api: RunningApi, path: str, **params: Any) -> httpx.Response:
    async with api.client() as client:
        return await client.get(path, params=params)


async def test_analytics_when_read_then_the_accounts_trades_and_equity(api: RunningApi) -> None:
    r = await get(api, "/accounts/acc-a/analytics")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["account_id"] == "acc-a"
    assert body["from"] is None
    stats = body["stats"]
    assert stats["trades"] == 3
    assert stats["net_profit"] == 30.0
    assert stats["win_rate"] == 1.0
    assert stats["profit_factor"] is None  # no loss
    assert stats["longest_win_streak"] == 3
    # acc-a's equity falls 10 a minute for 29 minutes from 100000
    assert stats["max_drawdown_equity"] == 290.0
    assert stats["max_drawdown_equity_percent"] == 0.29
    assert stats["start_balance"] == 100000.0
    # the symbol is the open's (the seeder's close facts all say EURUSD)
    assert {k: v["trades"] for k, v in body["by_symbol"].items()} == {"EURUSD": 2, "GBPUSD": 1}
    assert body["by_strategy"]["424242"]["net_profit"] == 30.0
    assert sum(d["trades"] for d in body["daily"]) == 3
    assert len(body["by_hour"]) == 24


async def test_analytics_when_ranged_then_only_trades_closed_in_it(api: RunningApi) -> None:
    since = (START + timedelta(minutes=9)).isoformat()
    r = await get(api, "/accounts/acc-a/analytics", **{"from": since})
    assert r.status_code == 200
    assert r.json()["stats"]["trades"] == 2
    assert r.json()["from"] == since


async def test_analytics_when_unknown_or_inverted_then_404_and_422(api: RunningApi) -> None:
    assert (await get(api, "/accounts/nobody/analytics")).status_code == 404
    inverted = {"from": "2026-03-03T00:00:00Z", "to": "2026-03-02T00:00:00Z"}
    r = await get(api, "/accounts/acc-a/analytics", **inverted)
    assert r.status_code == 422
    assert "from" in r.json()["message"]
    assert (await get(api, "/accounts/acc-a/analytics", to="soon")).status_code == 422


async def test_trades_when_sorted_and_paged_then_in_that_order(api: RunningApi) -> None:
    first = (await get(api, "/accounts/acc-a/trades", limit=2)).json()
    assert first["total"] == 3
    assert [t["identifier"] for t in first["items"]] == [1001, 1000]  # latest close first
    rest = (await get(api, "/accounts/acc-a/trades", limit=2, offset=2)).json()
    assert [t["identifier"] for t in rest["items"]] == [1002]
    oldest = (await get(api, "/accounts/acc-a/trades", descending="false", limit=1)).json()
    assert oldest["items"][0]["identifier"] == 1002
    trade = rest["items"][0]
    assert trade["net_profit"] == 10.0
    assert trade["sl_open"] == 1.08
    assert trade["r_multiple"] == 0.2  # 0.001 up over a 0.005 risk
    assert trade["duration_s"] == 120.0
    by_duration = (await get(api, "/accounts/acc-a/trades", sort="duration")).json()
    # 1001 lasted 10 minutes (2 to 12), 1000 nine (1 to 10), 1002 two (3 to 5)
    assert [t["identifier"] for t in by_duration["items"]] == [1001, 1000, 1002]
    assert (await get(api, "/accounts/acc-a/trades", sort="colour")).status_code == 422


@pytest.mark.nats
async def test_query_analytics_when_asked_on_nats_then_the_report(
    nc: Client, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'views.sqlite'}"
    seeder = seed(url)
    service = QueryService(open_database(url), seeder.settings)
    micro = await add_query_service(nc, service)
    try:
        body = json.dumps({"account": "acc-b"}).encode()
        reply = await nc.request(subjects.query("analytics"), body, timeout=5)
        report = json.loads(reply.data)
        assert report["account"] == "acc-b"
        assert report["analytics"]["stats"]["trades"] == 1
        assert report["analytics"]["stats"]["net_profit"] == 10.0
        unknown = await nc.request(subjects.query("analytics"), b'{"account": "x"}', timeout=5)
        assert unknown.headers is not None
        assert unknown.headers["Nats-Service-Error-Code"] == "404"
        bad = json.dumps({"account": "acc-b", "since": "yesterday"}).encode()
        wrong = await nc.request(subjects.query("analytics"), bad, timeout=5)
        assert wrong.headers is not None
        assert wrong.headers["Nats-Service-Error-Code"] == "400"
    finally:
        await micro.stop()
        service.close()
