"""The analytics page in a real browser (Debian's headless chromium, selenium) over the
hand-made account of `tests/analytics_fixture.py` served by the API on a port.

Statistics, the daily P/L calendar's green and red cells, the drawdown curve, the trades
list sorted and paged, an export fetched with the page's own code; screenshots saved.
"""

from __future__ import annotations

import asyncio
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
from bus.schemas import PositionClosed, PositionOpened
from mtq.http import ApiSettings, create_app
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


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'views.sqlite'}"
    add_losing_day(seed_account(url))
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
