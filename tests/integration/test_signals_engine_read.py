"""Signals recorded by the real engine, read back through the projector and the HTTP API.

A signed signal goes in through `POST /api/v1/signals` (the HTTP API forwards it to the
engine's `mtq-orders`), fanned out to an account with auto approval and one with manual
approval; the manual one is approved through `POST /api/v1/approvals` with a bearer token.
The agent's answer is published as a fact. The signals view and the reconciliation show
each account's status, the actor, and the position.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bus import subjects
from bus.embedded import EmbeddedNatsServer
from bus.schemas import OrderExecuted
from bus.topology import ensure_topology
from domain.signals import signal_command_id
from mtq.http import ApiSettings
from mtq.http.routes_orders import SIGNATURE_HEADER, signature
from tests.integration.engine_support import (
    FactFeed,
    connect_js,
    load,
    running_engine,
    settled,
    write_config,
)
from tests.integration.test_api_support import running_api
from tests.integration.test_projector import opened, publish_agent
from tests.pg_support import caught_up, running_projector
from tests.support import eventually

pytestmark = [pytest.mark.nats]

SECRET = "s3cret-for-tests"
TOKEN = "desk-token"
ACCOUNTS = """\
  - id: acc-1
    terminal: {simulator: {strategy: {magic: 424242}}}
    risk:
      initial_capital: 100000
      daily_loss: {limit_percent: 5, anchor: balance}
      max_loss: {kind: static, limit_percent: 10}
  - id: acc-2
    terminal: {simulator: {strategy: {magic: 424242}}}
    risk:
      initial_capital: 100000
      daily_loss: {limit_percent: 5, anchor: balance}
      max_loss: {kind: static, limit_percent: 10}
strategies:
  - name: demo
    secret_env: MTQ_TEST_SIGNAL_SECRET
    accounts: [acc-1, acc-2]
    approval: {acc-1: manual, acc-2: auto}
    sizing: {fixed: 0.1}
"""


async def test_signal_when_engine_records_it_then_reads_show_status_actor_and_position(
    fresh_nats_server: EmbeddedNatsServer, tmp_path: Path
) -> None:
    url = fresh_nats_server.url
    nc, js = await connect_js(url)
    await ensure_topology(js)
    feed = FactFeed(js)
    config = load(write_config(tmp_path, ACCOUNTS))
    db_url = f"sqlite:///{tmp_path / 'views.sqlite'}"
    now = datetime.now(UTC).replace(microsecond=0)
    settings = ApiSettings.from_config(
        config,
        db_url,
        nats_url=url,
        environ={"MTQ_TEST_SIGNAL_SECRET": SECRET, "MTQ_API_TOKENS": f"desk:{TOKEN}"},
    )
    try:
        async with (
            running_engine(url, config) as engine,
            running_projector(url, config, db_url) as projector,
            running_api(settings) as api,
            api.client(TOKEN) as client,
        ):
            last = 0
            for account_id in ("acc-1", "acc-2"):
                await publish_agent(feed, account_id, now, connected=True)
                last = await feed.snapshot(account_id, 100000, 100000, at=now)
                await feed.tick(account_id, "EURUSD", 1.08500, 1.08510, now)
            await settled(engine, last)

            async def api_on_nats() -> bool:
                return (await client.get("/ready")).json()["nats_connected"] is True

            await eventually(api_on_nats, timeout=20, message="the API never reached NATS")

            raw = json.dumps(
                {"signal_id": "sig-1", "strategy": "demo", "symbol": "EURUSD", "side": "buy",
                 "sl": 1.08, "tp": 1.09}
            ).encode()  # fmt: skip
            headers = {SIGNATURE_HEADER: signature(SECRET, raw), "Content-Type": "application/json"}
            answer = await client.post("/api/v1/signals", content=raw, headers=headers)
            assert answer.status_code == 200, answer.text
            first = {a["account_id"]: a["status"] for a in answer.json()["accounts"]}
            assert first == {"acc-1": "awaiting_approval", "acc-2": "sent"}, answer.json()

            await caught_up(projector)
            pending = (await client.get("/api/v1/approvals", params={"status": "pending"})).json()
            assert [a["approval_id"] for a in pending["items"]] == ["sig-1:acc-1"]

            decided = await client.post(
                "/api/v1/approvals",
                json={"signal_id": "sig-1", "account_id": "acc-1", "decision": "approve",
                      "reason": "checked the news"},
            )  # fmt: skip
            assert decided.status_code == 200, decided.text
            assert decided.json()["actor"] == "api:desk"

            command = signal_command_id("sig-1", "acc-2")
            fill = now + timedelta(seconds=1)
            await feed.publish(
                subjects.order("acc-2", "executed"),
                OrderExecuted(account_id="acc-2", command_id=command, ticket=71, retcode=10009,
                              deal=72, position=73, volume=0.1, price=1.0851, time=fill),
                "x73",
            )  # fmt: skip
            await feed.publish(
                subjects.position("acc-2", "opened"),
                opened(73, fill, account_id="acc-2", comment=f"mtq-{command[:8]}", volume=0.1,
                       price_open=1.0851, sl=1.08, tp=1.09),
                "p73",
            )  # fmt: skip
            await caught_up(projector)

            approval = (await client.get("/api/v1/approvals/sig-1:acc-1")).json()
            assert (approval["status"], approval["actor"]) == ("approved", "api:desk")
            assert approval["reason"] == "checked the news"
            rows = {
                r["account_id"]: r
                for r in (await client.get("/api/v1/signals/sig-1")).json()["accounts"]
            }
            assert rows["acc-1"]["status"] == "sent"
            assert rows["acc-1"]["submitted_by"] == "api:strategy-demo"
            assert [h["status"] for h in rows["acc-1"]["history"]] == [
                "received", "approved", "sent",
            ]  # fmt: skip
            assert (rows["acc-2"]["status"], rows["acc-2"]["mt5_position_id"]) == ("executed", 73)
            assert rows["acc-2"]["actor"] == "terminal"
            assert rows["acc-2"]["risk_check"]["decision"] == "approved"
            assert rows["acc-2"]["volume"] == 0.1

            recon = (await client.get("/accounts/acc-2/reconciliation")).json()["items"]
            [item] = [i for i in recon if i["signal_id"] == "sig-1"]
            assert (item["status"], item["approval_id"], item["mt5_position_id"]) == (
                "matched",
                "sig-1:acc-2",
                73,
            )
    finally:
        await nc.close()
