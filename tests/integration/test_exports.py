"""Exports read back equal what they export: the views' rows, RISK's decisions, MT5's facts.

Over the hand-made account of `tests/analytics_fixture.py`, through GET /accounts/{id}/export
(an app on a port) and `mtq export` (a real process), with a real nats-server for the logs.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import nats
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bus import subjects
from bus.codec import encode
from bus.embedded import EmbeddedNatsServer
from bus.schemas import AccountSnapshot
from bus.topology import ensure_topology
from domain.account import account_risk_id
from mtq.http import ApiSettings
from projections import analytics_reads, exports
from projections.analytics_reads import trade_doc
from projections.db import Database, open_database
from projections.export_formats import SCHEMAS
from projections.exports import Span
from tests.analytics_fixture import ACCOUNT, at, seed_account
from tests.e2e.cli import mtq
from tests.integration.test_api_support import RunningApi, running_api
from tests.support import eventually

T = TypeVar("T")


def read_csv(data: bytes, kind: str) -> list[dict[str, Any]]:
    """CSV rows typed by the export's schema (an empty cell is null)."""
    schema = SCHEMAS[kind]
    cast: dict[str, Callable[[str], Any]] = {}
    for field in schema:
        if pa.types.is_integer(field.type):
            cast[field.name] = int
        elif pa.types.is_floating(field.type):
            cast[field.name] = float
        else:
            cast[field.name] = str
    rows = list(csv.DictReader(io.StringIO(data.decode())))
    assert rows == [] or list(rows[0]) == schema.names
    return [{k: None if v == "" else cast[k](v) for k, v in r.items()} for r in rows]


def read_parquet(data: bytes) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = pq.read_table(io.BytesIO(data)).to_pylist()
    return rows


def view_trades(url: str, span: Span) -> list[dict[str, Any]]:
    db = open_database(url, create=False)
    try:
        found = analytics_reads.trades_in(db, span.account_id, span.start, span.end)
        return [trade_doc(t) for t in found]
    finally:
        db.close()


def view_equity(url: str) -> list[dict[str, Any]]:
    db = open_database(url, create=False)
    try:
        rows = db.query(
            f"SELECT {', '.join(exports.EQUITY_FIELDS)} FROM proj_equity WHERE account_id = ?"
            " ORDER BY minute",
            [ACCOUNT],
        )
        return [dict(zip(exports.EQUITY_FIELDS, r, strict=True)) for r in rows]
    finally:
        db.close()


@pytest.fixture
def views(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'views.sqlite'}"
    seed_account(url)
    return url


@pytest.fixture
async def api(views: str) -> AsyncIterator[RunningApi]:
    async with running_api(ApiSettings(db_url=views)) as running:
        yield running


async def export(api: RunningApi, **params: str) -> httpx.Response:
    async with api.client() as client:
        return await client.get(f"/accounts/{ACCOUNT}/export", params=params)


async def test_trades_export_when_read_back_then_equal_to_the_view(
    api: RunningApi, views: str
) -> None:
    expected = view_trades(views, Span(ACCOUNT))
    assert [t["net_profit"] for t in expected] == [100.0, -40.0, 25.0]
    as_csv = await export(api, kind="trades", format="csv")
    assert as_csv.status_code == 200, as_csv.text
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert 'filename="rep-1-trades.csv"' in as_csv.headers["content-disposition"]
    assert read_csv(as_csv.content, "trades") == expected
    as_parquet = await export(api, kind="trades", format="parquet")
    assert as_parquet.status_code == 200
    assert read_parquet(as_parquet.content) == expected
    ranged = await export(api, kind="trades", format="csv", **{"from": "2026-03-03T00:00:00Z"})
    assert [t["identifier"] for t in read_csv(ranged.content, "trades")] == [3]


async def test_equity_export_when_read_back_then_equal_to_the_view(
    api: RunningApi, views: str
) -> None:
    expected = view_equity(views)
    assert [r["equity_close"] for r in expected] == [100000.0, 100100.0, 100060.0, 100085.0]
    for fmt, read in (("csv", lambda b: read_csv(b, "equity")), ("parquet", read_parquet)):
        r = await export(api, kind="equity", format=fmt)
        assert r.status_code == 200, r.text
        assert read(r.content) == expected
    day = await export(api, kind="equity", **{"from": "2026-03-03", "to": "2026-03-04"})
    assert [r["minute"] for r in read_csv(day.content, "equity")] == ["2026-03-03T14:00"]


async def test_export_when_bad_request_then_404_422_or_503(api: RunningApi) -> None:
    async with api.client() as client:
        assert (await client.get("/accounts/nobody/export")).status_code == 404
        assert (await client.get(f"/accounts/{ACCOUNT}/export?kind=ticks")).status_code == 422
        assert (await client.get(f"/accounts/{ACCOUNT}/export?format=xlsx")).status_code == 422
        no_nats = await client.get(f"/accounts/{ACCOUNT}/export?kind=facts")
        assert no_nats.status_code == 503


async def test_view_batches_when_paged_then_every_row_once_in_order(views: str) -> None:
    db = open_database(views, create=False)

    async def run(work: Callable[[Database], T]) -> T:
        return work(db)

    try:
        batches = [b async for b in exports.view_batches(run, "trades", Span(ACCOUNT), size=2)]
        minutes = [b async for b in exports.view_batches(run, "equity", Span(ACCOUNT), size=3)]
    finally:
        db.close()
    assert [len(b) for b in batches] == [2, 1]
    assert [t for b in batches for t in b] == view_trades(views, Span(ACCOUNT))
    assert [len(b) for b in minutes] == [3, 1]


def test_export_cli_when_written_then_the_file_reads_back_as_the_view(
    views: str, tmp_path: Path
) -> None:
    out = tmp_path / "trades.parquet"
    done = mtq("export", ACCOUNT, "--kind", "trades", "--format", "parquet", "--db", views,
               "--out", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "wrote 3 trades rows" in done.stderr
    assert read_parquet(out.read_bytes()) == view_trades(views, Span(ACCOUNT))
    equity = tmp_path / "equity.csv"
    done = mtq("export", ACCOUNT, "--kind", "equity", "--db", views, "--out", str(equity))
    assert done.returncode == 0, done.stderr
    assert read_csv(equity.read_bytes(), "equity") == view_equity(views)
    unknown = mtq("export", "nobody", "--db", views, "--out", str(tmp_path / "x.csv"))
    assert unknown.returncode == 2
    assert "unknown account nobody" in unknown.stderr
    assert not (tmp_path / "x.csv").exists()


# --- decisions and facts: from the logs on a nats-server ---------------------------------


async def publish_log(url: str) -> list[tuple[str, bytes]]:
    """The account's facts and decisions (and another account's), as they went to the
    streams; returns the account's (subject, data) in stream order, facts then decisions."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        await ensure_topology(js)
        facts: list[tuple[str, bytes]] = []
        for minute, equity in enumerate((100000.0, 100050.0, 99990.0)):
            for account in (ACCOUNT, "other-1"):
                snapshot = AccountSnapshot(
                    account_id=account, login=1, balance=100000.0, equity=equity,
                    margin=0.0, margin_free=equity, margin_level=0.0, profit=equity - 100000.0,
                    currency="USD", server="Sim", time=at(2, 9, minute),
                )  # fmt: skip
                subject, data = subjects.account_snapshot(account), encode(snapshot)
                await js.publish(subject, data)
                if account == ACCOUNT:
                    facts.append((subject, data))
        decisions: list[tuple[str, bytes]] = []
        for version, account in enumerate((ACCOUNT, "other-1", ACCOUNT), start=1):
            aggregate = str(account_risk_id(account))
            subject = subjects.risk_events(aggregate, version, "DrawdownWarning")
            body = {"account_id": account, "timestamp": at(2, 9, version).isoformat(),
                    "seq": version, "rule": "daily", "value": 10.0 * version}  # fmt: skip
            data = json.dumps(body).encode()
            await js.publish(subject, data)
            if account == ACCOUNT:
                decisions.append((subject, data))
        return facts + decisions
    finally:
        await nc.close()


@pytest.mark.nats
async def test_facts_and_decisions_export_when_read_back_then_as_the_streams_hold_them(
    fresh_nats_server: EmbeddedNatsServer, views: str, tmp_path: Path
) -> None:
    url = fresh_nats_server.url
    recorded = await publish_log(url)
    facts, decisions = recorded[:3], recorded[3:]
    settings = ApiSettings(db_url=views, nats_url=url)
    async with running_api(settings) as running:
        await eventually(lambda: running.state.nc is not None, message="the API on NATS")
        r = await export(running, kind="facts", format="parquet")
        assert r.status_code == 200, r.text
        got = read_parquet(r.content)
        assert [(f["subject"], f["data"].encode()) for f in got] == facts
        assert [f["type"] for f in got] == ["AccountSnapshot"] * 3
        assert got[1]["time"] == at(2, 9, 1).isoformat()
        r = await export(running, kind="decisions", format="csv")
        got = read_csv(r.content, "decisions")
        assert [(d["subject"], d["data"].encode()) for d in got] == decisions
        assert [(d["type"], d["fact_seq"]) for d in got] == [
            ("DrawdownWarning", 1),
            ("DrawdownWarning", 3),
        ]
        ranged = await export(
            running,
            kind="facts",
            **{"from": at(2, 9, 1).isoformat(), "to": at(2, 9, 2).isoformat()},
        )
        assert [f["time"] for f in read_csv(ranged.content, "facts")] == [at(2, 9, 1).isoformat()]
    out = tmp_path / "decisions.parquet"
    done = await asyncio.to_thread(
        mtq, "export", ACCOUNT, "--kind", "decisions", "--format", "parquet",
        "--nats-url", url, "--out", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert [(d["subject"], d["data"].encode()) for d in read_parquet(out.read_bytes())] == decisions
    later = (at(2, 9, 2) + timedelta(seconds=1)).isoformat()
    none = await asyncio.to_thread(
        mtq, "export", ACCOUNT, "--kind", "facts", "--from", later, "--nats-url", url,
        "--out", str(tmp_path / "facts.csv"),
    )  # fmt: skip
    assert none.returncode == 0, none.stderr
    assert "wrote 0 facts rows" in none.stderr
    assert read_csv((tmp_path / "facts.csv").read_bytes(), "facts") == []
