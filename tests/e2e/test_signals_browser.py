"""The dashboard's signals page in a real browser (Debian's chromium, headless, selenium).

The app serves views seeded through the projector's own code: a signal awaiting a manual
approval and one fanned out to two accounts. The page lists the pending approval and each
account's status; its approve button posts `{signal_id, account_id, decision, reason}` to
`POST /api/v1/approvals` with the page's bearer token, as received by the server.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bus import subjects
from bus.schemas import OrderExecuted
from config.models import ApiTokenConfig
from domain.signals import signal_command_id
from mtq.http import ApiSettings, create_app
from mtq.http.auth import hash_token
from tests.e2e.test_dashboard_browser import browser  # noqa: F401 - fixture
from tests.integration.test_api_support import Seeder, free_port

pytestmark = [pytest.mark.e2e]

TOKEN = "desk-token"


@dataclass
class Recorder:
    """ASGI middleware keeping what the browser POSTs (path, headers, body) as received."""

    app: ASGIApp
    posts: list[dict[str, Any]] = field(default_factory=list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        more = True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        self.posts.append({"path": scope["path"], "headers": headers, "body": body})
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


def seed(db_url: str) -> Seeder:
    seeder = Seeder(db_url, ("acc-a", "acc-b"))
    at = datetime.now(UTC) - timedelta(seconds=5)

    def signal(signal_id: str, account_id: str, approval: str) -> dict[str, Any]:
        return {
            "signal_id": signal_id, "strategy": "demo", "symbol": "EURUSD", "side": "buy",
            "order_type": "market", "price": None, "volume": "0.2", "risk_percent": None,
            "sl": "1.08", "tp": "1.09", "comment": "", "received_at": at.isoformat(),
            "expires_at": (at + timedelta(seconds=600)).isoformat(), "approval": approval,
            "actor": "strategy:demo",
        }  # fmt: skip

    ident = {"signal_id": "wait-1", "approval_id": "wait-1:acc-a"}
    seeder.decision("acc-a", "SignalReceived", at, **signal("wait-1", "acc-a", "manual"))
    seeder.decision("acc-a", "SignalSized", at, signal_id="wait-1", volume="0.2", sizing="fixed")
    seeder.decision("acc-a", "ApprovalRequested", at, **ident)
    for account_id in ("acc-a", "acc-b"):
        command = signal_command_id("fan-1", account_id)
        link = {"signal_id": "fan-1", "approval_id": f"fan-1:{account_id}"}
        seeder.decision(account_id, "SignalReceived", at, **signal("fan-1", account_id, "auto"))
        seeder.decision(account_id, "Approved", at, **link, actor="auto", reason="auto")
        seeder.decision(account_id, "OrderPlaced", at, **link, command_id=command, volume="0.2")
    seeder.fact(
        subjects.order("acc-a", "executed"),
        OrderExecuted(account_id="acc-a", command_id=signal_command_id("fan-1", "acc-a"),
                      ticket=5, retcode=10009, deal=6, position=21, volume=0.2, price=1.085,
                      time=at + timedelta(seconds=1)),
    )  # fmt: skip
    seeder.commit()
    return seeder


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Recorder]]:
    db_url = f"sqlite:///{tmp_path / 'views.sqlite'}"
    seeder = seed(db_url)
    settings = ApiSettings(
        db_url=db_url,
        accounts=seeder.settings,
        tokens=(ApiTokenConfig(name="desk", sha256=hash_token(TOKEN)),),
    )
    recorder = Recorder(create_app(settings))
    port = free_port()
    server = _Thread(uvicorn.Config(recorder, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(500):
        if server.started:
            break
        asyncio.run(asyncio.sleep(0.02))
    assert server.started
    try:
        yield f"http://127.0.0.1:{port}", recorder
    finally:
        server.should_exit = True
        thread.join(20)


class _Thread(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # not the main thread
        return None


def test_signals_page_when_approve_clicked_then_posts_the_decision_with_the_token(
    served: tuple[str, Recorder],
    browser: webdriver.Chrome,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    base, recorder = served
    browser.get(f"{base}/ui/signals")
    browser.execute_script("localStorage.setItem('mtq_token', arguments[0])", TOKEN)
    browser.refresh()
    wait = WebDriverWait(browser, 20)
    row = wait.until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "#approvals tr[data-approval='wait-1:acc-a']")
    )[0]
    cells = [td.text for td in row.find_elements(By.TAG_NAME, "td")[:6]]
    assert cells == ["wait-1:acc-a", "acc-a", "demo", "EURUSD", "buy", "0.2"]
    fan = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#signals tr[data-signal='fan-1']"))
    statuses = {
        part.get_attribute("data-account"): part.text
        for part in fan[0].find_elements(By.CSS_SELECTOR, ".account-status")
    }
    assert statuses == {"acc-a": "acc-a executed #21", "acc-b": "acc-b sent"}
    browser.save_screenshot(str(tmp_path / "signals.png"))

    row.find_element(By.CSS_SELECTOR, "input.reason").send_keys("spread is fine")
    row.find_element(By.CSS_SELECTOR, "button.approve").click()
    wait.until(lambda _: recorder.posts)
    [post] = recorder.posts
    assert post["path"] == "/api/v1/approvals"
    assert post["headers"]["authorization"] == f"Bearer {TOKEN}"
    assert post["headers"]["content-type"] == "application/json"
    assert json.loads(post["body"]) == {
        "signal_id": "wait-1",
        "account_id": "acc-a",
        "decision": "approve",
        "reason": "spread is fine",
    }
    message = wait.until(lambda d: d.find_element(By.ID, "message").text)
    assert message.startswith("wait-1:acc-a: ")
