"""Alerts from the live RISK stream and KV status, delivered to webhooks in this test.

A local HTTP receiver (uvicorn, in this event loop) answers as scripted: one webhook fails
once with a 500 and then takes the delivery, one always fails. Signatures are checked with
the secret; the dead delivery is recorded, printed, and dead-lettered on NATS.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nats
import pytest
import uvicorn
from nats.aio.client import Client

from bus import subjects
from bus.embedded import EmbeddedNatsServer
from bus.topology import ensure_topology
from config.models import WebhookConfig
from mtq.http import ApiSettings
from mtq.http.alerts import AlertStore
from tests.integration.test_api_support import RunningApi, free_port, running_api, seed_views
from tests.support import eventually

pytestmark = pytest.mark.nats

SECRET = "webhook-secret"


@dataclass
class Receiver:
    """Records each POST; `/flaky` answers 500 once then 200, `/down` always 500."""

    url: str = ""
    received: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    calls: dict[str, int] = field(default_factory=dict)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        path = scope["path"]
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.received.append((path, headers, body))
        self.calls[path] = self.calls.get(path, 0) + 1
        status = 200
        if path == "/down" or (path == "/flaky" and self.calls[path] == 1):
            status = 500
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    def bodies(self, path: str) -> list[tuple[dict[str, str], bytes]]:
        return [(h, b) for p, h, b in self.received if p == path]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(found, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    await eventually(lambda: server.started, timeout=10)
    found.url = f"http://127.0.0.1:{port}"
    try:
        yield found
    finally:
        server.should_exit = True
        await task


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[EmbeddedNatsServer]:
    with EmbeddedNatsServer(data_dir=tmp_path / "nats") as running:
        yield running


@pytest.fixture
async def nc(nats_server: EmbeddedNatsServer) -> AsyncIterator[Client]:
    client = await nats.connect(nats_server.url)
    await ensure_topology(client.jetstream())
    try:
        yield client
    finally:
        await client.close()


def settings_for(tmp_path: Path, nats_url: str, receiver: Receiver, said: list[str]) -> ApiSettings:
    url = f"sqlite:///{tmp_path / 'views.sqlite'}"
    seeder = seed_views(url, ["acc-a", "acc-b"])
    fast: dict[str, Any] = {"backoff_initial_s": 0.05, "backoff_factor": 2.0, "timeout_s": 2.0}
    hooks = (
        WebhookConfig(
            name="ops",
            url=receiver.url + "/flaky",
            secret_env="HOOK_SECRET",
            max_attempts=3,
            **fast,
        ),
        WebhookConfig(
            name="pager",
            url=receiver.url + "/down",
            max_attempts=2,
            events=("LiquidationPending", "DrawdownBreached"),
            **fast,
        ),
    )
    return ApiSettings(
        db_url=url,
        accounts=seeder.settings,
        nats_url=nats_url,
        webhooks=hooks,
        environ={"HOOK_SECRET": SECRET},
        say=said.append,
        alerts_db=tmp_path / "alerts.sqlite",
    )


async def started(api: RunningApi) -> None:
    await eventually(lambda: api.state.feed is not None and api.state.feed.started, timeout=15)


async def decide(nc: Client, account_id: str, version: int, kind: str, **data: Any) -> None:
    body = {"account_id": account_id, "timestamp": datetime.now(UTC).isoformat(), **data}
    await nc.jetstream().publish(
        subjects.risk_events(account_id, version, kind), json.dumps(body).encode()
    )


async def alerts(api: RunningApi, **params: Any) -> list[dict[str, Any]]:
    async with api.client() as client:
        items: list[dict[str, Any]] = (await client.get("/alerts", params=params)).json()["items"]
        return items


def settled(items: list[dict[str, Any]]) -> bool:
    return all(d["status"] in ("delivered", "dead") for a in items for d in a["deliveries"])


async def test_breach_when_decided_then_alert_signed_retried_and_dead_lettered(
    tmp_path: Path, nats_server: EmbeddedNatsServer, nc: Client, receiver: Receiver
) -> None:
    said: list[str] = []
    dead = await nc.subscribe("dlq.api.webhook.>")
    async with running_api(settings_for(tmp_path, nats_server.url, receiver, said)) as api:
        await started(api)
        await decide(
            nc,
            "acc-a",
            7,
            "DrawdownBreached",
            rule="daily",
            limit=5000.0,
            floor=95000.0,
            value=94000.0,
            anchor=100000.0,
            breach_when="below",
            action="liquidate",
            holds=None,
        )
        found = await eventually(lambda: _settled_alerts(api), timeout=15)
        assert len(found) == 1
        alert = found[0]
        assert alert["kind"] == "DrawdownBreached"
        assert alert["account_id"] == "acc-a"
        assert "equity 94000.00, floor 95000.00" in alert["summary"]
        by_hook = {d["webhook"]: d for d in alert["deliveries"]}
        assert by_hook["ops"]["status"] == "delivered"
        assert by_hook["ops"]["attempts"] == 2  # a 500, then delivered
        assert by_hook["pager"]["status"] == "dead"
        assert by_hook["pager"]["attempts"] == 2
        assert by_hook["pager"]["last_status_code"] == 500
    flaky = receiver.bodies("/flaky")
    assert len(flaky) == 2
    assert flaky[0][1] == flaky[1][1]  # the same bytes on every attempt
    for headers, body in flaky:
        want = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert headers["x-mtq-signature-256"] == want
        assert headers["x-mtq-event"] == "DrawdownBreached"
        assert headers["x-mtq-delivery"] == flaky[0][0]["x-mtq-delivery"]
    assert [h["x-mtq-attempt"] for h, _ in flaky] == ["1", "2"]
    assert json.loads(flaky[0][1])["data"]["floor"] == 95000.0
    assert all("x-mtq-signature-256" not in h for h, _ in receiver.bodies("/down"))
    assert any("ALERT acc-a: DrawdownBreached" in line for line in said)
    assert any("webhook pager failed" in line and "dead-lettered" in line for line in said)
    msg = await dead.next_msg(timeout=5)
    assert msg.subject == "dlq.api.webhook.acc-a"
    assert msg.headers is not None
    assert msg.headers["Mtq-Error-Kind"] == "webhook_dead"


async def _settled_alerts(api: RunningApi) -> list[dict[str, Any]]:
    items = await alerts(api)
    assert items
    assert all(a["deliveries"] for a in items)
    assert settled(items)
    return items


async def test_alert_kinds_when_decided_then_each_once_and_filtered(
    tmp_path: Path, nats_server: EmbeddedNatsServer, nc: Client, receiver: Receiver
) -> None:
    said: list[str] = []
    settings = settings_for(tmp_path, nats_server.url, receiver, said)
    before = (await nc.jetstream().stream_info(subjects.STREAM_RISK)).state.last_seq
    async with running_api(settings) as api:
        await started(api)
        await decide(
            nc,
            "acc-b",
            3,
            "DrawdownWarning",
            rule="daily",
            value=96000.0,
            warning_level=96000.0,
            floor=95000.0,
        )
        await decide(
            nc,
            "acc-b",
            4,
            "LiquidationPending",
            rule="daily",
            grace_end="2026-03-02T10:00:30+00:00",
            reason="daily loss",
        )
        await decide(
            nc,
            "acc-b",
            5,
            "LiquidationOrdered",
            rule="daily",
            command_id="c-1",
            identifiers=[1, 2],
            tickets=[1, 2],
            reason="daily loss (grace ended)",
        )
        await decide(
            nc,
            "acc-b",
            6,
            "TradingStateChanged",
            state="HALTED",
            previous="ACTIVE",
            reason="daily loss",
            actor="risk",
            command_id="c-2",
            holds={},
        )
        await decide(nc, "acc-b", 7, "AccountStateRecorded", balance=1.0, equity=1.0)
        kinds = [
            "DrawdownWarning",
            "LiquidationPending",
            "LiquidationOrdered",
            "TradingStateChanged",
        ]
        found = await eventually(lambda: _kinds(api, len(kinds)), timeout=15)
        assert sorted(a["kind"] for a in found) == sorted(kinds)
        pending = next(a for a in found if a["kind"] == "LiquidationPending")
        assert "positions close at 2026-03-02T10:00:30+00:00" in pending["summary"]
        assert {d["webhook"] for d in pending["deliveries"]} == {"ops", "pager"}
        warning = next(a for a in found if a["kind"] == "DrawdownWarning")
        assert {d["webhook"] for d in warning["deliveries"]} == {"ops"}  # pager: not its kind
        only = await alerts(api, kind="LiquidationPending")
        assert [a["kind"] for a in only] == ["LiquidationPending"]
        assert await alerts(api, account="acc-a") == []
        await eventually(lambda: _kinds_settled(api), timeout=15)
        calls = dict(receiver.calls)
    # The same RISK messages read again by a restarted API raise nothing twice: its stored
    # position is set back to before them, so it reads all five decisions once more.
    assert settings.alerts_db is not None
    store = AlertStore(settings.alerts_db)
    assert store.position("risk") is not None
    store.set_position("risk", before)
    store.close()
    async with running_api(settings) as again:
        await started(again)
        seen = await eventually(
            lambda: _counted(again, "mtq_api_decisions_seen") == len(kinds) + 1,
            timeout=15,
            message="the restarted API read the five decisions again",
        )
        assert seen
        assert sorted(a["kind"] for a in await alerts(again)) == sorted(kinds)
        assert _counted(again, "mtq_alerts") == 0, "an alert was raised twice"
        assert receiver.calls == calls, "a delivery went out twice"


def _counted(api: RunningApi, counter: str) -> int:
    """The total of a counter of the API's own registry, over all its labels."""
    return int(sum(
        sample.value
        for metric in api.state.metrics.registry.collect()
        if metric.name == counter
        for sample in metric.samples
        if sample.name == f"{counter}_total"
    ))  # fmt: skip


async def _kinds(api: RunningApi, count: int) -> list[dict[str, Any]]:
    items = await alerts(api)
    assert len(items) == count
    return items


async def _kinds_settled(api: RunningApi) -> bool:
    return settled(await alerts(api))


async def test_agent_when_status_turns_unhealthy_then_alert(
    tmp_path: Path, nats_server: EmbeddedNatsServer, nc: Client, receiver: Receiver
) -> None:
    said: list[str] = []
    async with running_api(settings_for(tmp_path, nats_server.url, receiver, said)) as api:
        await started(api)
        kv = await nc.jetstream().key_value(subjects.KV_STATUS)
        doc = {
            "account_id": "acc-a",
            "health": {"status": "HEALTHY", "reasons": [], "details": []},
            "heartbeat": {"time": "2026-03-02T10:00:00+00:00"},
        }
        await kv.put("acc-a", json.dumps(doc).encode())
        sick = doc | {
            "health": {
                "status": "UNHEALTHY",
                "reasons": ["terminal_disconnected"],
                "details": ["terminal disconnected"],
            }
        }
        await kv.put("acc-a", json.dumps(sick).encode())
        await kv.put("acc-a", json.dumps(sick).encode())  # the same outage: one alert
        found = await eventually(lambda: _kinds(api, 1), timeout=15)
        assert found[0]["kind"] == "AgentUnhealthy"
        assert found[0]["summary"] == "agent UNHEALTHY: terminal disconnected"
        assert any("ALERT acc-a: AgentUnhealthy" in line for line in said)


async def test_stream_when_decisions_and_status_then_pushed_filtered_by_account(
    tmp_path: Path, nats_server: EmbeddedNatsServer, nc: Client, receiver: Receiver
) -> None:
    said: list[str] = []
    async with running_api(settings_for(tmp_path, nats_server.url, receiver, said)) as api:
        await started(api)
        events: list[tuple[str, dict[str, Any]]] = []
        async with api.client() as client:
            reader = asyncio.create_task(_read_stream(client, "acc-b", events))
            await eventually(lambda: len(api.state.hub.subscribers) == 1, timeout=10)
            await decide(
                nc,
                "acc-a",
                9,
                "DrawdownWarning",
                rule="daily",
                value=1.0,
                warning_level=1.0,
                floor=1.0,
            )
            await decide(
                nc,
                "acc-b",
                9,
                "TradingStateChanged",
                state="REDUCING",
                previous="ACTIVE",
                reason="pause",
                actor="alice",
                command_id="",
                holds={},
            )
            kv = await nc.jetstream().key_value(subjects.KV_STATUS)
            await kv.put(
                "acc-b",
                json.dumps({"account_id": "acc-b", "health": {"status": "HEALTHY"}}).encode(),
            )
            want = {"decision", "alert", "status"}
            await eventually(lambda: want <= {e for e, _ in events}, timeout=10)
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
    assert {d["account_id"] for _, d in events} == {"acc-b"}
    decision = next(d for e, d in events if e == "decision")
    assert decision["type"] == "TradingStateChanged"
    assert decision["decision"]["actor"] == "alice"


async def _read_stream(client: Any, account: str, events: list[tuple[str, dict[str, Any]]]) -> None:
    async with client.stream(
        "GET", "/events/stream", params={"account": account}, timeout=None
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        event = ""
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                events.append((event, json.loads(line[6:])))
