"""Read endpoints over seeded views: every one, their filters, cursors, 404s and 422s."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from config.models import ApiTokenConfig
from mtq.http import ApiSettings
from mtq.http.auth import hash_token
from tests.integration.test_api_support import RunningApi, running_api, seed_views

ACCOUNTS = ("acc-a", "acc-b", "acc-c")


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[RunningApi]:
    url = f"sqlite:///{tmp_path / 'views.sqlite'}"
    seeder = seed_views(url, ACCOUNTS)
    async with running_api(ApiSettings(db_url=url, accounts=seeder.settings)) as running:
        yield running


async def get(api: RunningApi, path: str, **params: Any) -> httpx.Response:
    async with api.client() as client:
        return await client.get(path, params=params)


async def test_accounts_when_listed_then_every_status_in_id_order(api: RunningApi) -> None:
    r = await get(api, "/accounts")
    assert r.status_code == 200
    body = r.json()
    assert [a["account_id"] for a in body["items"]] == list(ACCOUNTS)
    assert body["next_cursor"] is None
    first = body["items"][0]
    assert first["health"]["status"] == "HEALTHY"
    assert first["trading"]["state"] == "HALTED"
    assert first["drawdown"]["daily"]["floor"] == 95000.0
    assert first["account"]["equity"] == 100000.0 - 29 * 10


async def test_accounts_when_paged_then_cursor_walks_all(api: RunningApi) -> None:
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        body = (await get(api, "/accounts", **params)).json()
        seen += [a["account_id"] for a in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == list(ACCOUNTS)


async def test_accounts_when_filtered_then_only_matching(api: RunningApi) -> None:
    halted = (await get(api, "/accounts", trading_state="HALTED")).json()["items"]
    assert [a["account_id"] for a in halted] == ["acc-a"]
    active = (await get(api, "/accounts", trading_state="ACTIVE", health="HEALTHY")).json()
    assert [a["account_id"] for a in active["items"]] == ["acc-b", "acc-c"]
    assert (await get(api, "/accounts", health="UNHEALTHY")).json()["items"] == []


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/accounts", {"limit": 0}, "query.limit"),
        ("/accounts", {"health": "GREEN"}, "query.health"),
        ("/accounts", {"cursor": "not-a-cursor"}, "query.cursor"),
        ("/accounts/acc-a/positions", {"state": "pending"}, "query.state"),
        ("/accounts/acc-a/equity", {"from": "yesterday"}, "query.from"),
        ("/accounts/acc-a/equity", {"resolution": "7m"}, "query.resolution"),
        ("/accounts/acc-a/events", {"to": "soon"}, "query.to"),
        ("/accounts/acc-a/reconciliation", {"status": "odd"}, "query.status"),
        ("/alerts", {"kind": "Nope"}, "query.kind"),
        ("/accounts/bad%20id", {}, "path.account_id"),
    ],
)
async def test_reads_when_query_is_bad_then_422_naming_the_field(
    api: RunningApi, path: str, params: dict[str, Any], field: str
) -> None:
    r = await get(api, path, **params)
    assert r.status_code == 422, r.text
    assert r.json()["message"].startswith(field), r.json()


@pytest.mark.parametrize(
    "path",
    [
        "/accounts/nope",
        "/accounts/nope/positions",
        "/accounts/nope/reconciliation",
        "/accounts/nope/risk",
        "/accounts/nope/equity",
        "/accounts/nope/events",
    ],
)
async def test_reads_when_account_unknown_then_404(api: RunningApi, path: str) -> None:
    r = await get(api, path)
    assert r.status_code == 404
    assert "unknown account 'nope'" in r.json()["message"]


async def test_account_when_known_then_its_status(api: RunningApi) -> None:
    r = await get(api, "/accounts/acc-b")
    assert r.status_code == 200
    assert r.json()["account_id"] == "acc-b"


async def test_positions_when_open_or_closed_then_each_with_cursor(api: RunningApi) -> None:
    open_ = (await get(api, "/accounts/acc-a/positions")).json()
    assert [p["identifier"] for p in open_["items"]] == [1001, 1000]  # newest first
    closed = (await get(api, "/accounts/acc-a/positions", state="closed")).json()
    assert [p["identifier"] for p in closed["items"]] == [1002]
    assert closed["items"][0]["closed"]["reason"] == "tp"
    page = (await get(api, "/accounts/acc-a/positions", limit=1)).json()
    assert [p["identifier"] for p in page["items"]] == [1001]
    rest = (await get(api, "/accounts/acc-a/positions", limit=1, cursor=page["next_cursor"])).json()
    assert [p["identifier"] for p in rest["items"]] == [1000]
    assert rest["next_cursor"] is None
    gbp = (await get(api, "/accounts/acc-a/positions", symbol="gbpusd")).json()
    assert [p["symbol"] for p in gbp["items"]] == ["GBPUSD"]


async def test_reconciliation_when_filtered_by_status_then_counts(api: RunningApi) -> None:
    body = (await get(api, "/accounts/acc-a/reconciliation")).json()
    assert body["items"], body
    assert sum(body["counts"].values()) == len(body["items"])
    assert {i["account_id"] for i in body["items"]} == {"acc-a"}
    unmatched = (await get(api, "/accounts/acc-a/reconciliation", status="manual")).json()
    assert unmatched["items"]
    assert {i["status"] for i in unmatched["items"]} == {"manual"}
    none = (await get(api, "/accounts/acc-a/reconciliation", status="slipped")).json()
    assert none["items"] == []


async def test_reconciliation_across_accounts_when_paged_then_every_item(api: RunningApi) -> None:
    everything = (await get(api, "/reconciliation", limit=1000)).json()["items"]
    assert {i["account_id"] for i in everything} == set(ACCOUNTS)
    walked: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        body = (await get(api, "/reconciliation", **params)).json()
        walked += [f"{i['account_id']}/{i['item_id']}" for i in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert walked == [f"{i['account_id']}/{i['item_id']}" for i in everything]


async def test_risk_when_account_registered_then_limits_and_decisions(api: RunningApi) -> None:
    body = (await get(api, "/accounts/acc-a/risk")).json()
    assert body["risk"]["trading"]["state"] == "HALTED"
    assert [d["type"] for d in body["recent"]][-2:] == ["DrawdownWarning", "TradingStateChanged"]


async def test_equity_when_resolution_given_then_bars_and_floors(api: RunningApi) -> None:
    minute = (await get(api, "/accounts/acc-b/equity")).json()
    assert len(minute["items"]) == 30
    assert minute["current_floors"] == {"daily": 95000.0, "max": 90000.0}
    assert minute["floors"][0]["type"] == "TradingDayStarted"
    assert minute["floors"][0]["daily_floor"] == 95000.0
    bars = (await get(api, "/accounts/acc-b/equity", resolution="1h")).json()["items"]
    assert 1 <= len(bars) <= 2
    assert sum(b["samples"] for b in bars) == 30
    assert min(b["equity"]["low"] for b in bars) == 100000.0 - 29 * 20
    first = minute["items"][0]["time"]
    later = (await get(api, "/accounts/acc-b/equity", **{"from": first, "limit": 10})).json()
    assert len(later["items"]) == 10
    assert later["next_cursor"]
    more = (
        await get(
            api,
            "/accounts/acc-b/equity",
            **{"from": first, "limit": 10, "cursor": later["next_cursor"]},
        )
    ).json()
    assert more["items"][0]["time"] > later["items"][-1]["time"]


async def test_events_when_read_then_decisions_and_facts_in_time_order(api: RunningApi) -> None:
    items = (await get(api, "/accounts/acc-a/events", limit=1000)).json()["items"]
    kinds = {(e["kind"], e["type"]) for e in items}
    assert ("decision", "DrawdownWarning") in kinds
    assert ("fact", "PositionOpened") in kinds
    assert ("fact", "PositionClosed") in kinds
    assert [e["time"] for e in items] == sorted(e["time"] for e in items)
    walked, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        body = (await get(api, "/accounts/acc-a/events", **params)).json()
        walked += [e["key"] for e in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert walked == [e["key"] for e in items]
    late = (await get(api, "/accounts/acc-a/events", **{"from": items[-1]["time"]})).json()
    assert [e["key"] for e in late["items"]] == [items[-1]["key"]]


async def test_alerts_when_none_then_empty_page(api: RunningApi) -> None:
    assert (await get(api, "/alerts")).json() == {"items": [], "next_cursor": None}


async def test_health_and_ready_when_no_nats_then_alive_not_ready(api: RunningApi) -> None:
    assert (await get(api, "/health")).json() == {"status": "ok"}
    r = await get(api, "/ready")
    assert r.status_code == 503
    assert r.json()["views"] is True
    assert r.json()["nats_connected"] is False
    assert "NATS is not connected" in r.json()["reasons"]


async def test_metrics_when_scraped_then_prometheus_text(api: RunningApi) -> None:
    await get(api, "/accounts/acc-a")
    r = await get(api, "/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    assert (
        'mtq_http_request_duration_seconds_count{method="GET",route="/accounts/{account_id}"'
        in r.text
    )
    assert "mtq_api_nats_connected 0.0" in r.text


async def test_dashboard_when_loaded_then_pages_and_bundled_plotly(api: RunningApi) -> None:
    index = await get(api, "/")
    assert index.status_code == 200
    assert "mtq.index()" in index.text
    page = await get(api, "/ui/accounts/acc-a")
    assert page.status_code == 200
    assert "/static/plotly.min.js" in page.text
    plotly = await get(api, "/static/plotly.min.js")
    assert plotly.status_code == 200
    assert len(plotly.content) > 1_000_000
    assert "cdn" not in page.text.lower()
    assert "http://" not in page.text + index.text
    assert (await get(api, "/static/app.js")).status_code == 200
    assert (await get(api, "/static/nothing.js")).status_code == 404


EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["'](?!/[^/])([^"']*)["']""")
LOCAL_ASSET = re.compile(r"""(?:src|href)\s*=\s*["'](/[^/"'][^"']*)["']""")


@pytest.mark.parametrize(
    "path", ["/", "/ui/accounts/acc-a", "/ui/accounts/acc-a/analytics", "/docs"]
)
async def test_pages_when_offline_then_no_external_url_and_every_asset_served(
    api: RunningApi, path: str
) -> None:
    page = await get(api, path)
    assert page.status_code == 200
    assert EXTERNAL.findall(page.text) == []
    assert "cdn." not in page.text.lower()
    assets = LOCAL_ASSET.findall(page.text)
    assert assets
    for asset in assets:
        served = await get(api, asset)
        assert served.status_code == 200, asset
        assert len(served.content) > 100, asset


async def test_docs_when_loaded_then_swagger_reads_the_openapi_document(api: RunningApi) -> None:
    page = (await get(api, "/docs")).text
    assert "/openapi.json" in page
    assert '"validatorUrl": null' in page
    assert (await get(api, "/docs/assets/swagger-ui-bundle.js")).status_code == 200
    assert (await get(api, "/docs/assets/other.js")).status_code == 404
    assert (await get(api, "/redoc")).status_code == 404


async def test_reads_when_bound_off_loopback_then_token_needed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'views.sqlite'}"
    seeder = seed_views(url, ACCOUNTS)
    token = ApiTokenConfig(name="ops", sha256=hash_token("s3cret"))
    settings = ApiSettings(db_url=url, accounts=seeder.settings, host="0.0.0.0", tokens=(token,))
    async with running_api(settings) as api:
        async with api.client() as anonymous:
            r = await anonymous.get("/accounts")
            assert r.status_code == 401
            assert r.headers["www-authenticate"] == "Bearer"
            assert (await anonymous.get("/health")).status_code == 200
            assert (await anonymous.get("/")).status_code == 200  # the page holds no data
        async with api.client("wrong") as wrong:
            assert (await wrong.get("/accounts")).status_code == 401
        async with api.client("s3cret") as ops:
            assert (await ops.get("/accounts")).status_code == 200
