"""The analytics page in a real browser (Debian's headless chromium, selenium) over the
hand-made account of `tests/analytics_fixture.py` served by the API on a port.

Statistics, the daily P/L calendar's green and red cells, the drawdown curve, the trades
list sorted and paged, an export fetched with the page's own code; screenshots saved.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from bus import subjects
from bus.schemas import PositionClosed, PositionOpened, TickReceived
from mtq.http import ApiSettings, create_app
from projections.candles import CandleBook
from projections.db import open_database
from tests.analytics_fixture import ACCOUNT, at, seed_account
from tests.e2e import test_dashboard_browser
from tests.integration.test_api_support import Seeder, free_port, msc

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
browser = test_dashboard_browser.browser  # the same headless chromium fixture


class _Thread(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # not the main thread
        return None


def add_losing_day(seeder: Seeder) -> None:
    """Thursday 5 March: one trade of -30 (the calendar's red cell)."""
    opened = PositionOpened(
        account_id=ACCOUNT, ticket=4, identifier=4, symbol="EURUSD", side="buy", volume=0.1,
        price_open=1.1, price_current=1.1, sl=1.095, magic=7, reason="expert",
        time_msc=msc(at(5, 9)),
    )  # fmt: skip
    seeder.fact(subjects.position(ACCOUNT, "opened"), opened)
    closed = PositionClosed(
        account_id=ACCOUNT, ticket=4, identifier=4, symbol="EURUSD", side="buy", volume=0.1,
        price_open=1.1, price_current=1.097, profit=-30.0, magic=7, reason="expert",
        time_msc=msc(at(5, 9)), close_price=1.097, deal_reason="sl",
        close_time_msc=msc(at(5, 9) + timedelta(minutes=20)),
    )  # fmt: skip
    seeder.fact(subjects.position(ACCOUNT, "closed"), closed)
    seeder.commit()


@contextlib.contextmanager
def serving(url: str) -> Iterator[str]:
    """The API over the views at `url`, on a free port in a thread, until the block ends."""
    port = free_port()
    server = _Thread(
        uvicorn.Config(create_app(ApiSettings(db_url=url)), host="127.0.0.1", port=port,
                       log_level="warning")
    )  # fmt: skip
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(500):
        if server.started:
            break
        asyncio.run(asyncio.sleep(0.02))
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(20)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'views.sqlite'}"
    add_losing_day(seed_account(url))
    with serving(url) as base:
        yield base


def cells(driver: webdriver.Chrome, selector: str) -> list[str]:
    """The texts at once (the page re-renders its tables: elements found may go stale)."""
    found: list[str] = driver.execute_script(
        "return [...document.querySelectorAll(arguments[0])].map(e => e.textContent)", selector
    )
    return found


def trade_ids(driver: webdriver.Chrome) -> list[str]:
    found: list[str] = driver.execute_script(
        "return [...document.querySelectorAll('#trades tbody tr')].map(r => r.dataset.trade)"
    )
    return found


def test_analytics_page_when_opened_then_stats_calendar_drawdown_trades_and_exports(
    served: str, browser: webdriver.Chrome, tmp_path: Path
) -> None:
    browser.get(f"{served}/ui/accounts/{ACCOUNT}/analytics?limit=2")
    wait = WebDriverWait(browser, 30)
    wait.until(lambda d: d.execute_script("return document.body.dataset.ready") == "true")
    stat: dict[str, str] = browser.execute_script(
        "const v = k => document.querySelector(`#stats tr[data-stat='${k}'] td.num`).textContent;"
        "return {net: v('net_profit'), trades: v('trades'), pf: v('profit_factor')}"
    )
    assert stat == {"net": "55.00", "trades": "4", "pf": "1.7857"}  # 125 / 70
    wins = browser.find_elements(By.CSS_SELECTOR, "#calendar .day.win")
    losses = browser.find_elements(By.CSS_SELECTOR, "#calendar .day.loss")
    assert [(c.get_attribute("data-date"), c.text) for c in wins] == [
        ("2026-03-02", "60.00"),
        ("2026-03-03", "25.00"),
    ]
    assert [(c.get_attribute("data-date"), c.text) for c in losses] == [("2026-03-05", "-30.00")]
    colour = browser.execute_script(
        "return getComputedStyle(arguments[0]).backgroundColor", losses[0]
    )
    assert colour == "rgb(255, 205, 210)"
    traces: list[dict[str, Any]] = browser.execute_script(
        "return document.getElementById('drawdown').data.map(t => ({name: t.name, n: t.y.length}))"
    )
    assert {t["name"] for t in traces} == {"equity", "peak", "drawdown %"}
    assert trade_ids(browser) == ["4", "3"]  # latest close first, two a page
    assert browser.find_element(By.ID, "page").text == "1-2 of 4"
    browser.find_element(By.ID, "next").click()
    wait.until(lambda d: trade_ids(d) == ["2", "1"])
    browser.find_element(By.CSS_SELECTOR, "#trades th[data-sort='net_profit']").click()
    wait.until(lambda d: trade_ids(d) == ["1", "3"])  # the largest P/L first, page one again
    browser.find_element(By.CSS_SELECTOR, "#trades th[data-sort='net_profit']").click()
    wait.until(lambda d: trade_ids(d) == ["2", "4"])  # then the smallest
    size = browser.execute_async_script(
        "const done = arguments[0]; mtqAnalytics.download('trades', 'csv').then(done);"
    )
    assert size > 200  # a header and four rows
    shot = tmp_path / "analytics.png"
    assert browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
    browser.execute_script("document.getElementById('from').value = '2026-03-03'")
    browser.find_element(By.CSS_SELECTOR, "#range button[type='submit']").click()
    wait.until(lambda d: cells(d, "#stats tr[data-stat='trades'] td.num") == ["2"])
    assert cells(browser, "#stats tr[data-stat='net_profit'] td.num") == ["-5.00"]


def seed_candles(url: str) -> None:
    """EURUSD ticks every 30 s on Monday 2 March, 08:55 to 11:35 (around trades 1 and 2)."""
    db = open_database(url, create=False)
    try:
        book = CandleBook(lambda series, start: None)
        first = at(2, 8, 55)
        for i in range(321):
            bid = round(1.1 + 0.0001 * ((i * 7) % 13 - 6), 5)
            at_msc = msc(first) + i * 30_000
            book.apply(TickReceived(account_id=ACCOUNT, symbol="EURUSD", bid=bid,
                                    ask=bid + 0.0002, time_msc=at_msc))  # fmt: skip
        with db.transaction() as cur:
            book.save(cur)
    finally:
        db.close()


def test_account_page_when_bars_exist_then_candles_with_entries_and_exits(
    tmp_path: Path, browser: webdriver.Chrome
) -> None:
    url = f"sqlite:///{tmp_path / 'views.sqlite'}"
    add_losing_day(seed_account(url))
    seed_candles(url)
    with serving(url) as base:
        browser.get(f"{base}/ui/accounts/{ACCOUNT}")
        WebDriverWait(browser, 30).until(
            lambda d: (
                d.execute_script("return document.getElementById('candles-box').dataset.ready")
                == "true"
            )
        )
        traces: list[dict[str, Any]] = browser.execute_script(
            "return document.getElementById('candles').data.map(t => ({name: t.name,"
            " type: t.type || 'scatter', n: t.x.length, y: t.y || null}))"
        )
        shot = tmp_path / "candles.png"
        assert browser.save_screenshot(str(shot))
    by_name = {t["name"]: t for t in traces}
    assert by_name["EURUSD M1"]["type"] == "candlestick"
    assert by_name["EURUSD M1"]["n"] == 161  # 08:55 to 11:35, one bar a minute
    # trades 2 and 1, latest first (trade 4, on Thursday, is after the bars)
    assert by_name["entries"]["y"] == [1.11, 1.1]
    assert by_name["exits"]["y"] == [1.114, 1.11]
    assert shot.stat().st_size > 10_000
