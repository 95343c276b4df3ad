"""The dashboard's signals page in a real browser (Debian's chromium, headless, selenium).

Over a nats-server, the engine, the projector and the API: a signed signal fanned out to an
account with manual approval and one with auto approval (executed: its fact is published).
The page lists the pending approval and each account's status; its approve button posts
`{signal_id, account_id, decision, reason}` to `POST /api/v1/approvals` with the page's
bearer token (as the server received it), and the engine records the Approved decision with
the token's name as actor.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import uvicorn
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bus import subjects
from bus.embedded import EmbeddedNatsServer
from bus.schemas import OrderExecuted
from bus.topology import ensure_topology
from domain.signals import signal_command_id
from mtq.http import ApiSettings, create_app
from mtq.http.routes_orders import SIGNATURE_HEADER, signature
from tests.e2e.test_dashboard_browser import browser  # noqa: F401 - fixture
from tests.integration.engine_support import (
    FactFeed,
    connect_js,
    load,
    running_engine,
    settled,
    write_config,
)
from tests.integration.test_api_support import free_port
from tests.integration.test_projector import publish_agent
from tests.pg_support import caught_up, running_projector
from tests.support import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.nats]

T = TypeVar("T")
SECRET = "s3cret-for-tests"
TOKEN = "desk-token"
ACCOUNTS = """\
  - id: acc-a
    terminal: {simulator: {strategy: {magic: 424242}}}
    risk:
      initial_capital: 100000
      daily_loss: {limit_percent: 5, anchor: balance}
      max_loss: {kind: static, limit_percent: 10}
  - id: acc-b
    terminal: {simulator: {strategy: {magic: 424242}}}
    risk:
      initial_capital: 100000
      daily_loss: {limit_percent: 5, anchor: balance}
      max_loss: {kind: static, limit_percent: 10}
strategies:
  - name: demo
    secret_env: MTQ_TEST_SIGNAL_SECRET
    accounts: [acc-a, acc-b]
    approval: {acc-a: manual, acc-b: auto}
    sizing: {fixed: 0.2}
"""


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


class Stack:
    """nats-server, the engine, the projector and the API (behind `Recorder`), on a thread
    with its own event loop; the test drives them with `call`."""

    def __init__(self, nats_url: str, tmp: Path) -> None:
        self.nats_url = nats_url
        self.tmp = tmp
        self.base = ""
        self.recorder: Recorder | None = None
        self.feed: FactFeed | None = None
        self.projector: Any = None
        self.ready = threading.Event()
        self.failure: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Stack:
        self._thread.start()
        assert self.ready.wait(60), "the stack did not start"
        if self.failure is not None:
            raise self.failure
        return self

    def __exit__(self, *_: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)

    def call(self, work: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(work, self._loop).result(timeout)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            self.failure = exc
            self.ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        nc, js = await connect_js(self.nats_url)
        await ensure_topology(js)
        self.feed = FactFeed(js)
        config = load(write_config(self.tmp, ACCOUNTS))
        db_url = f"sqlite:///{self.tmp / 'views.sqlite'}"
        environ = {"MTQ_TEST_SIGNAL_SECRET": SECRET, "MTQ_API_TOKENS": f"desk:{TOKEN}"}
        settings = ApiSettings.from_config(config, db_url, nats_url=self.nats_url, environ=environ)
        self.recorder = Recorder(create_app(settings))
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(self.recorder, host="127.0.0.1", port=port, log_level="warning")
        )
        try:
            async with (
                running_engine(self.nats_url, config) as engine,
                running_projector(self.nats_url, config, db_url) as projector,
            ):
                self.projector = projector
                serving = asyncio.create_task(server.serve())
                await eventually(lambda: server.started, timeout=20)
                self.base = f"http://127.0.0.1:{port}"
                now = datetime.now(UTC).replace(microsecond=0)
                last = 0
                for account_id in ("acc-a", "acc-b"):
                    await publish_agent(self.feed, account_id, now, connected=True)
                    last = await self.feed.snapshot(account_id, 100000, 100000, at=now)
                    await self.feed.tick(account_id, "EURUSD", 1.08500, 1.08510, now)
                await settled(engine, last)
                async with httpx.AsyncClient(base_url=self.base) as client:

                    async def on_nats() -> bool:
                        return (await client.get("/ready")).json()["nats_connected"] is True

                    await eventually(on_nats, timeout=20)
                self.ready.set()
                await self._stop.wait()
                server.should_exit = True
                await serving
        finally:
            await nc.close()


def submit(base: str, signal_id: str) -> dict[str, Any]:
    """A signed signal through `POST /api/v1/signals`, as a strategy sends it."""
    raw = json.dumps(
        {"signal_id": signal_id, "strategy": "demo", "symbol": "EURUSD", "side": "buy",
         "sl": 1.08, "tp": 1.09}
    ).encode()  # fmt: skip
    headers = {SIGNATURE_HEADER: signature(SECRET, raw), "Content-Type": "application/json"}
    answer = httpx.post(f"{base}/api/v1/signals", content=raw, headers=headers, timeout=10)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_signals_page_when_approve_clicked_then_posts_and_the_engine_records_the_approval(
    fresh_nats_server: EmbeddedNatsServer,
    browser: webdriver.Chrome,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    with Stack(fresh_nats_server.url, tmp_path) as stack:
        assert stack.recorder is not None
        assert stack.feed is not None
        answer = submit(stack.base, "sig-1")
        assert {a["account_id"]: a["status"] for a in answer["accounts"]} == {
            "acc-a": "awaiting_approval",
            "acc-b": "sent",
        }
        command = signal_command_id("sig-1", "acc-b")
        executed = OrderExecuted(
            account_id="acc-b", command_id=command, ticket=5, retcode=10009, deal=6,
            position=21, volume=0.2, price=1.0851, time=datetime.now(UTC),
        )  # fmt: skip
        stack.call(stack.feed.publish(subjects.order("acc-b", "executed"), executed, "x21"))
        stack.call(caught_up(stack.projector))

        browser.get(f"{stack.base}/ui/signals")
        browser.execute_script("localStorage.setItem('mtq_token', arguments[0])", TOKEN)
        browser.refresh()
        wait = WebDriverWait(browser, 20)
        row = wait.until(
            lambda d: d.find_elements(By.CSS_SELECTOR, "#approvals tr[data-approval='sig-1:acc-a']")
        )[0]
        cells = [td.text for td in row.find_elements(By.TAG_NAME, "td")[:6]]
        assert cells == ["sig-1:acc-a", "acc-a", "demo", "EURUSD", "buy", "0.2"]
        fan = wait.until(
            lambda d: d.find_elements(By.CSS_SELECTOR, "#signals tr[data-signal='sig-1']")
        )
        statuses = {
            part.get_attribute("data-account"): part.text
            for part in fan[0].find_elements(By.CSS_SELECTOR, ".account-status")
        }
        assert statuses == {"acc-a": "acc-a received", "acc-b": "acc-b executed #21"}
        browser.save_screenshot(str(tmp_path / "signals.png"))

        row.find_element(By.CSS_SELECTOR, "input.reason").send_keys("spread is fine")
        row.find_element(By.CSS_SELECTOR, "button.approve").click()
        posts = stack.recorder.posts
        wait.until(lambda _: [p for p in posts if p["path"] == "/api/v1/approvals"])
        [post] = [p for p in posts if p["path"] == "/api/v1/approvals"]
        assert post["headers"]["authorization"] == f"Bearer {TOKEN}"
        assert post["headers"]["content-type"] == "application/json"
        assert json.loads(post["body"]) == {
            "signal_id": "sig-1",
            "account_id": "acc-a",
            "decision": "approve",
            "reason": "spread is fine",
        }
        message = wait.until(lambda d: d.find_element(By.ID, "message").text)
        assert message == "sig-1:acc-a: sent"  # approved, risk-checked and placed

        stack.call(caught_up(stack.projector))
        approval = httpx.get(f"{stack.base}/api/v1/approvals/sig-1:acc-a", timeout=10).json()
        assert (approval["status"], approval["actor"]) == ("approved", "api:desk")
        assert approval["reason"] == "spread is fine"
        wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR, "#approvals tr[data-approval]"))
        browser.save_screenshot(str(tmp_path / "signals-approved.png"))
