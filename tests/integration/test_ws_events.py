"""GET /ws/events over a real WebSocket client: the SSE stream's events, the SSE stream's auth.

A real nats-server with mtq's topology, the API on a port following it, decisions published
to RISK and a status put in the KV bucket: the WebSocket and /events/stream carry the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
from nats.aio.client import Client
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from bus import subjects
from bus.embedded import EmbeddedNatsServer
from bus.topology import ensure_topology
from mtq.http import ApiSettings
from tests.integration.test_api_support import RunningApi, running_api
from tests.support import eventually

pytestmark = [pytest.mark.nats]
Events = list[tuple[str, dict[str, Any]]]


@pytest.fixture
async def nc(fresh_nats_server: EmbeddedNatsServer) -> AsyncIterator[Client]:
    client = await nats.connect(fresh_nats_server.url)
    await ensure_topology(client.jetstream())
    try:
        yield client
    finally:
        await client.close()


def ws_url(api: RunningApi, query: str) -> str:
    return api.url.replace("http://", "ws://") + "/ws/events" + query


async def decide(nc: Client, account_id: str, version: int, kind: str, **data: Any) -> None:
    body = {"account_id": account_id, "timestamp": datetime.now(UTC).isoformat(), **data}
    await nc.jetstream().publish(
        subjects.risk_events(account_id, version, kind), json.dumps(body).encode()
    )


async def read_sse(client: httpx.AsyncClient, account: str, events: Events) -> None:
    async with client.stream(
        "GET", "/events/stream", params={"account": account}, timeout=None
    ) as response:
        event = ""
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                events.append((event, json.loads(line[6:])))


async def read_ws(socket: ClientConnection, events: Events) -> None:
    async for frame in socket:
        message = json.loads(frame)
        events.append((message["event"], message["data"]))


async def test_ws_when_decisions_and_status_then_the_same_events_as_sse(
    tmp_path: Path, fresh_nats_server: EmbeddedNatsServer, nc: Client
) -> None:
    settings = ApiSettings(
        db_url=f"sqlite:///{tmp_path / 'views.sqlite'}", nats_url=fresh_nats_server.url
    )
    async with running_api(settings) as api:
        await eventually(lambda: api.state.feed is not None and api.state.feed.started)
        sse: Events = []
        ws: Events = []
        async with api.client() as client, connect(ws_url(api, "?account=acc-w")) as socket:
            readers = [
                asyncio.create_task(read_sse(client, "acc-w", sse)),
                asyncio.create_task(read_ws(socket, ws)),
            ]
            await eventually(lambda: len(api.state.hub.subscribers) == 2)
            await decide(nc, "acc-x", 1, "DrawdownWarning", rule="daily", value=1.0)
            await decide(
                nc, "acc-w", 2, "TradingStateChanged", state="REDUCING", previous="ACTIVE",
                reason="pause", actor="alice", command_id="", holds={},
            )  # fmt: skip
            kv = await nc.jetstream().key_value(subjects.KV_STATUS)
            status = {"account_id": "acc-w", "health": {"status": "HEALTHY"}}
            await kv.put("acc-w", json.dumps(status).encode())
            await eventually(lambda: {"decision", "status"} <= {e for e, _ in ws}, timeout=10)
            await eventually(lambda: len(sse) >= len(ws), timeout=10)
            for task in readers:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        assert ws == sse
        assert {d["account_id"] for _, d in ws} == {"acc-w"}
        decision = next(d for e, d in ws if e == "decision")
        assert decision["type"] == "TradingStateChanged"
        assert decision["decision"]["actor"] == "alice"
        assert next(d for e, d in ws if e == "status") == status
        await eventually(lambda: not api.state.hub.subscribers, message="closed sockets leave")


async def test_ws_when_reads_need_a_token_then_refused_without_it(tmp_path: Path) -> None:
    settings = ApiSettings(
        db_url=f"sqlite:///{tmp_path / 'views.sqlite'}", host="0.0.0.0", tokens_env="bob:s3cret"
    )
    async with running_api(settings) as api:
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            with pytest.raises(InvalidStatus) as refused:
                async with connect(ws_url(api, ""), additional_headers=headers):
                    pass
            assert refused.value.response.status_code == 403
        async with api.client() as client:  # the SSE stream refuses the same callers
            assert (await client.get("/events/stream")).status_code == 401
        good = {"Authorization": "Bearer s3cret"}
        async with connect(ws_url(api, "?account=acc-w"), additional_headers=good):
            await eventually(lambda: len(api.state.hub.subscribers) == 1)
        with pytest.raises(InvalidStatus):
            async with connect(ws_url(api, "?account=no%20such"), additional_headers=good):
                pass


async def test_ws_when_the_hub_closes_then_the_socket_ends(tmp_path: Path) -> None:
    settings = ApiSettings(db_url=f"sqlite:///{tmp_path / 'views.sqlite'}")
    async with running_api(settings) as api, connect(ws_url(api, "")) as socket:
        await eventually(lambda: len(api.state.hub.subscribers) == 1)
        api.state.hub.publish("alert", "acc-w", {"account_id": "acc-w", "kind": "Test"})
        first = json.loads(await socket.recv())
        assert first == {"event": "alert", "data": {"account_id": "acc-w", "kind": "Test"}}
        api.state.hub.close()
        await socket.wait_closed()
        assert socket.close_code == 1013
