"""The dashboard in a real browser: Debian's chromium, headless, driven by selenium, against
a running `mtq up` on the demo config.

It finds the demo accounts on the overview, follows a live update from the event stream,
opens an account's page and finds its plotly chart with the drawdown floors, follows a
live update there too, and saves screenshots under the test's temp dir. The same run calls
the real `mtq-agents` and `mtq-risk` services through the API with a token.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.support import eventually_sync

pytestmark = [pytest.mark.e2e, pytest.mark.nats, pytest.mark.slow]

DEMO = Path(__file__).resolve().parents[2] / "config" / "examples" / "demo.yaml"
DEMO_ACCOUNTS = ("ftmo-001", "trail-002", "strict-003")
TOKEN = "e2e-token"


def _browser_paths() -> tuple[str, str]:
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    driver = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    missing = [p for p in (chromium, driver) if not Path(p).is_file()]
    assert not missing, (
        f"{missing} not installed: apt-get install -y chromium chromium-driver (.ci/run does)"
    )
    return chromium, driver


@dataclass
class UpProcess:
    proc: subprocess.Popen[bytes]
    log: Path
    http: str = ""

    def text(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def up(tmp_path: Path) -> Iterator[UpProcess]:
    log = tmp_path / "up.log"
    env = {**os.environ, "COLUMNS": "200", "MTQ_API_TOKENS": f"e2e:{TOKEN}"}
    with log.open("wb") as handle:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mtq",
                "up",
                "--config",
                str(DEMO),
                "--data",
                str(tmp_path / "data"),
                "--nats-port",
                "0",
                "--http",
                "127.0.0.1:0",
            ],
            stdout=handle,
            stderr=subprocess.STDOUT,
            env=env,
        )
    running = UpProcess(proc, log)
    try:

        def address() -> str:
            match = re.search(r"HTTP API and dashboard: (http://127\.0\.0\.1:\d+)/", running.text())
            assert match, running.text()
            return match.group(1)

        running.http = eventually_sync(address, timeout=90, message="mtq up banner")
        yield running
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    chromium, driver_path = _browser_paths()
    options = Options()
    options.binary_location = chromium
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1400,1000",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _accounts_listed(base: str) -> list[str]:
    body = httpx.get(f"{base}/accounts", timeout=5).json()
    ids = [a["account_id"] for a in body["items"] if a.get("account")]
    assert set(DEMO_ACCOUNTS) <= set(ids), ids
    return ids


def _row(driver: webdriver.Chrome, account: str) -> bool:
    return bool(driver.find_elements(By.CSS_SELECTOR, f"tr[data-account='{account}']"))


def _count(driver: webdriver.Chrome) -> int:
    return int(driver.find_element(By.ID, "live-count").text or "0")


def _live_after(driver: webdriver.Chrome, seen: int, timeout: float = 30) -> int:
    WebDriverWait(driver, timeout).until(lambda d: _count(d) > seen)
    return _count(driver)


def test_dashboard_when_mtq_up_runs_then_live_accounts_and_chart(
    up: UpProcess, browser: webdriver.Chrome, tmp_path: Path
) -> None:
    eventually_sync(lambda: _accounts_listed(up.http), timeout=90, message="demo accounts")
    browser.get(up.http + "/")
    wait = WebDriverWait(browser, 30)
    wait.until(lambda d: all(_row(d, a) for a in DEMO_ACCOUNTS))
    row: dict[str, Any] = browser.execute_script(  # rows are re-rendered live: read at once
        "const r = document.querySelector(\"tr[data-account='ftmo-001']\");"
        "return {equity: r.querySelector('.equity').textContent,"
        " bars: r.querySelectorAll('.bar').length}"
    )
    assert row["equity"] not in ("", "-")
    assert row["bars"] == 2  # daily and max drawdown toward their floors
    widths: dict[str, int] = browser.execute_script(
        "return {table: document.getElementById('accounts').scrollWidth,"
        " page: document.documentElement.clientWidth}"
    )
    assert widths["table"] <= widths["page"], widths  # the 1400 px window holds the table
    wait.until(lambda d: d.find_element(By.ID, "live").text == "live")
    seen = _live_after(browser, _count(browser))
    shot = tmp_path / "overview.png"
    assert browser.save_screenshot(str(shot))

    browser.execute_script("document.querySelector(\"tr[data-account='trail-002'] a\").click()")
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#chart .main-svg"))
    traces: list[dict[str, Any]] = browser.execute_script(
        "return document.getElementById('chart').data.map(t => ({name: t.name, n: t.y.length}))"
    )
    names = {t["name"]: t["n"] for t in traces}
    assert names["equity"] >= 1
    assert names["balance"] >= 1
    assert names["daily floor"] >= 1
    assert names["max floor"] >= 1
    wait.until(lambda d: d.find_element(By.ID, "live").text == "live")
    before = browser.execute_script("return document.getElementById('chart').data[0].x.length")
    _live_after(browser, 0)
    WebDriverWait(browser, 30).until(
        lambda d: (
            d.execute_script("return document.getElementById('chart').data[0].x.length") > before
        )
    )
    assert browser.find_elements(By.CSS_SELECTOR, "#timeline li")
    account_shot = tmp_path / "account.png"
    assert browser.save_screenshot(str(account_shot))
    assert shot.stat().st_size > 10_000
    assert account_shot.stat().st_size > 10_000
    assert seen >= 1
    # ftmo-001 runs FTMO's 2-Step preset: its challenge objectives are shown (issue 18)
    browser.get(up.http + "/ui/accounts/ftmo-001")
    WebDriverWait(browser, 90).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "#summary .challenge .objective")
    )
    shown = browser.find_element(By.CSS_SELECTOR, "#summary .challenge").text
    assert "trading days" in shown, shown


def test_api_when_mtq_up_runs_then_real_services_answer(up: UpProcess) -> None:
    eventually_sync(lambda: _accounts_listed(up.http), timeout=90, message="demo accounts")
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=up.http, timeout=30) as client:
        assert client.get("/api/workers").status_code == 401
        workers = client.get("/api/workers", headers=auth)
        assert workers.status_code == 200, workers.text
        assert {w["account"] for w in workers.json()["accounts"]} == set(DEMO_ACCOUNTS)
        valid = client.get("/api/workers/strict-003/validate", headers=auth).json()
        assert valid["valid"] is True
        paused = client.post("/accounts/strict-003/pause", headers=auth, json={"reason": "e2e"})
        assert paused.status_code == 200, paused.text
        assert paused.json()["trading_state"] == "REDUCING"
        assert paused.json()["actor"] == "api:e2e"
        risk = eventually_sync(
            lambda: _state(client, "strict-003", "REDUCING"), timeout=20, message="paused"
        )
        assert risk["actor"] == "api:e2e"  # the api identity names its token
        resumed = client.post("/accounts/strict-003/resume", headers=auth, json={"reason": "ok"})
        assert resumed.status_code == 200, resumed.text
        assert client.get("/accounts/nope/risk").status_code == 404
        ready = client.get("/ready").json()
        assert ready["nats_connected"] is True
        # The demo's trail-002 crosses its warning level about 20 s in: console and /alerts.
        eventually_sync(
            lambda: "ALERT trail-002: DrawdownWarning" in up.text(),
            timeout=90,
            message="warning alert on the console",
        )
        listed = client.get("/alerts", params={"account": "trail-002"}).json()["items"]
        assert "DrawdownWarning" in [a["kind"] for a in listed]


def _state(client: httpx.Client, account: str, want: str) -> dict[str, Any]:
    trading: dict[str, Any] = client.get(f"/accounts/{account}").json()["trading"]
    assert trading["state"] == want, trading
    return trading
