"""`POST /api/v1/signals` and `/api/v1/approvals` over the real API, engine and nats-server.

The signature is HMAC-SHA256 of the raw body with the strategy's secret, from the API's
environment: missing or wrong answers 401 and RISK gets nothing; a bad field answers 422
naming it; a repeated signal id answers the first answer; a manual approval by bearer token
is recorded as `api:<token name>`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from nats.aio.client import Client

from config.models import ApiTokenConfig
from domain.signals import signal_command_id
from mtq.http import ApiSettings
from mtq.http.auth import hash_token
from tests.integration.engine_support import (
    T0,
    FactFeed,
    load,
    read_decisions,
    running_engine,
    settled,
)
from tests.integration.test_api_support import running_api, seed_views
from tests.support import eventually

pytestmark = pytest.mark.nats

SECRET = "s3cret-for-tests"
TOKEN = "tok-alice"
CONFIG = """\
defaults:
  symbols:
    - {name: EURUSD, digits: 5, contract_size: 100000}
  risk:
    initial_capital: 100000
accounts:
  - id: strict-003
  - id: ftmo-001
strategies:
  - name: demo
    secret_env: MTQ_DEMO_SIGNAL_SECRET
    accounts: [strict-003, ftmo-001]
    approval: {strict-003: auto, ftmo-001: manual}
    sizing: {fixed: 0.1}
"""


def signed(body: dict[str, Any], secret: str = SECRET) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body).encode()
    digest = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return raw, {"X-Mtq-Signature": f"sha256={digest}", "Content-Type": "application/json"}


async def post(client: httpx.AsyncClient, raw: bytes, headers: dict[str, str]) -> httpx.Response:
    return await client.post("/api/v1/signals", content=raw, headers=headers)


SIGNAL = {"signal_id": "h-1", "strategy": "demo", "symbol": "EURUSD", "side": "buy",
          "sl": 1.082, "type": "market"}  # fmt: skip


async def test_signed_signal_over_http_and_its_approval(
    engine_bus: tuple[str, Client, FactFeed], tmp_path: Path
) -> None:
    url, _nc, feed = engine_bus
    path = tmp_path / "demo.yaml"
    path.write_text(CONFIG)
    config = load(path)
    db_url = f"sqlite:///{tmp_path / 'views.sqlite'}"
    seed_views(db_url, ["strict-003", "ftmo-001"])
    settings = ApiSettings.from_config(
        config,
        db_url,
        nats_url=url,
        environ={"MTQ_DEMO_SIGNAL_SECRET": SECRET},
        request_timeout_s=5.0,
    )
    alice = ApiTokenConfig(name="alice", sha256=hash_token(TOKEN))
    settings = replace(settings, tokens=(alice,))
    async with running_engine(url, config) as process, running_api(settings) as api:
        await eventually(lambda: api.state.nc is not None, timeout=10)
        await eventually(lambda: process.orders_micro is not None, timeout=10)
        last = 0
        for account_id in ("strict-003", "ftmo-001"):
            last = await feed.snapshot(account_id, 100_000, 100_000)
            await feed.tick(account_id, "EURUSD", 1.08490, 1.08500, T0)
        await settled(process, last)
        before = len(read_decisions(url))
        async with api.client() as client:
            raw, headers = signed(SIGNAL)
            assert (await post(client, raw, {})).status_code == 401
            wrong = {**headers, "X-Mtq-Signature": signed(SIGNAL, "other")[1]["X-Mtq-Signature"]}
            assert (await post(client, raw, wrong)).status_code == 401
            tampered = raw.replace(b'"buy"', b'"sell"')
            refused = await post(client, tampered, headers)
            assert refused.status_code == 401
            assert "does not match" in refused.json()["message"]
            assert len(read_decisions(url)) == before  # 401 recorded nothing

            bad_raw, bad_headers = signed({**SIGNAL, "side": "long"})
            bad = await post(client, bad_raw, bad_headers)
            assert bad.status_code == 422
            assert bad.json()["detail"][0]["loc"] == ["body", "side"]
            assert len(read_decisions(url)) == before

            first = await post(client, raw, headers)
            assert first.status_code == 200, first.text
            answers = {a["account_id"]: a for a in first.json()["accounts"]}
            assert answers["strict-003"]["status"] == "sent"
            assert answers["strict-003"]["command_id"] == signal_command_id("h-1", "strict-003")
            assert answers["ftmo-001"]["status"] == "awaiting_approval"
            assert first.json()["duplicate"] is False
            recorded = len(read_decisions(url))
            again = await post(client, raw, headers)
            assert again.json() == {**first.json(), "duplicate": True}
            assert len(read_decisions(url)) == recorded

        async with api.client(TOKEN) as client:
            decision = {"signal_id": "h-1", "account_id": "ftmo-001", "decision": "approve",
                        "reason": "ok"}  # fmt: skip
            answer = await client.post("/api/v1/approvals", json=decision)
            assert answer.status_code == 200, answer.text
            assert answer.json()["status"] == "sent"
            assert answer.json()["actor"] == "api:alice"
        async with api.client() as client:
            assert (await client.post("/api/v1/approvals", json=decision)).status_code == 401
    received = [d.body for d in read_decisions(url) if d.type == "SignalReceived"]
    assert {b["actor"] for b in received} == {"api:strategy-demo"}
    approved = [d.body for d in read_decisions(url) if d.type == "Approved"]
    assert sorted(b["actor"] for b in approved) == ["api:alice", "auto"]
