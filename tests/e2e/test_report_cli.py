"""`mtq report` as a real process: over a views database (`--db`) and over `mtq.query.analytics`.

The numbers are the hand-computed ones of `tests/analytics_fixture.py`.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from pathlib import Path

import pytest
from nats.aio.client import Client

from projections.db import open_database
from projections.service import QueryService, add_query_service
from tests.analytics_fixture import ACCOUNT, seed_account
from tests.e2e.cli import mtq

pytestmark = [pytest.mark.e2e]


@pytest.fixture
def views(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'views.sqlite'}"
    seed_account(url)
    return url


def test_report_json_when_read_from_the_views_then_the_hand_computed_numbers(views: str) -> None:
    done = mtq("report", ACCOUNT, "--db", views, "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    stats = report["stats"]
    assert (stats["trades"], stats["wins"], stats["losses"]) == (3, 2, 1)
    assert stats["net_profit"] == 85.0
    assert stats["gross_profit"] == 125.0
    assert stats["gross_loss"] == -40.0
    assert stats["commission"] == -7.0
    assert stats["win_rate"] == 0.6667
    assert stats["profit_factor"] == 3.125
    assert stats["expectancy"] == 28.33
    assert stats["average_r"] == 0.6
    assert stats["average_duration_s"] == 7800.0
    assert stats["max_drawdown_equity"] == 40.0
    assert stats["max_drawdown_equity_percent"] == 0.04
    # daily returns 60 / 100000 and 25 / 100060: mean over sample deviation, times sqrt(252)
    r = [60 / 100000, 25 / 100060]
    mean = sum(r) / 2
    deviation = math.sqrt(sum((x - mean) ** 2 for x in r))
    assert stats["sharpe"] == round(mean / deviation * math.sqrt(252), 4)
    assert stats["sortino"] is None  # no losing day
    assert report["daily"] == [
        {"date": "2026-03-02", "net_profit": 60.0, "trades": 2, "wins": 1},
        {"date": "2026-03-03", "net_profit": 25.0, "trades": 1, "wins": 1},
    ]
    assert report["by_symbol"]["XAUUSD"]["net_profit"] == 25.0
    hours = {h["hour"]: h["net_profit"] for h in report["by_hour"] if h["trades"]}
    assert hours == {10: 100.0, 11: -40.0, 14: 25.0}


def test_report_when_ranged_then_only_the_trades_closed_in_it(views: str) -> None:
    done = mtq("report", ACCOUNT, "--db", views, "--json", "--from", "2026-03-03T00:00:00Z")
    assert done.returncode == 0, done.stderr
    stats = json.loads(done.stdout)["stats"]
    assert (stats["trades"], stats["net_profit"]) == (1, 25.0)


def test_report_table_when_printed_then_readable_rows(views: str) -> None:
    done = mtq("report", ACCOUNT, "--db", views)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert re.search(r"net P/L\s+85\.00", out)
    assert re.search(r"profit factor\s+3\.1250", out)
    assert re.search(r"wins / losses / breakeven\s+2 / 1 / 0", out)
    assert re.search(r"2026-03-02\s+2\s+1\s+60\.00", out)
    assert "by symbol" in out
    assert "XAUUSD" in out


def test_report_html_when_written_then_charts_with_plotly_inline(
    views: str, tmp_path: Path
) -> None:
    page = tmp_path / "report.html"
    done = mtq("report", ACCOUNT, "--db", views, "--html", str(page))
    assert done.returncode == 0, done.stderr
    text = page.read_text(encoding="utf-8")
    assert page.stat().st_size > 1_000_000  # plotly.js itself is inside
    assert "<script src=" not in text  # no CDN, nothing fetched
    assert text.count("Plotly.newPlot") == 3
    for title in ("Equity and drawdown", "Daily P/L", "P/L by hour of close"):
        assert title.replace("/", "\\u002f") in text  # plotly's JSON escapes the slash
    assert "<td>net P/L</td><td>85.00</td>" in text
    assert "<td>profit factor</td><td>3.1250</td>" in text


def test_report_when_account_unknown_or_range_inverted_then_one_line_exit_2(views: str) -> None:
    unknown = mtq("report", "nobody", "--db", views)
    assert unknown.returncode == 2
    assert "unknown account nobody" in unknown.stderr
    inverted = mtq("report", ACCOUNT, "--db", views, "--from", "2026-03-04", "--to", "2026-03-01")
    assert inverted.returncode == 2
    assert "is after --to" in inverted.stderr
    bad = mtq("report", ACCOUNT, "--db", views, "--to", "soon")
    assert bad.returncode == 2
    assert "not a time" in bad.stderr


@pytest.mark.nats
async def test_report_when_asked_over_nats_then_the_same_report(
    views: str, nc: Client, nats_url: str
) -> None:
    service = QueryService(open_database(views), {})
    micro = await add_query_service(nc, service)
    try:
        over_nats = await asyncio.to_thread(
            mtq, "report", ACCOUNT, "--json", "--nats-url", nats_url
        )
        direct = await asyncio.to_thread(mtq, "report", ACCOUNT, "--json", "--db", views)
        assert over_nats.returncode == 0, over_nats.stderr
        assert json.loads(over_nats.stdout) == json.loads(direct.stdout)
        unknown = await asyncio.to_thread(mtq, "report", "nobody", "--nats-url", nats_url)
        assert unknown.returncode == 2
        assert "nobody" in unknown.stderr
    finally:
        await micro.stop()
        service.close()
