"""Account groups over a real engine and nats-server (issue 19): the cross-hedge guard across
two accounts of a group at pre-trade, a hedge that appears anyway recorded and alerted, group
limits, group control over HTTP with the actor recorded, and the audit redoing all of it."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import msgspec
import pytest
from nats.aio.client import Client

from bus import subjects
from bus.codec import encode
from bus.reader import read_facts
from bus.schemas.risk import RiskCheckReply, RiskCheckRequest
from config.models import ApiTokenConfig
from engine.audit_replay import RecordedEvent, VerifyResult, verify
from engine.audit_run import read_recorded, run_verify
from engine.store import open_store
from mtq.http import ApiSettings
from mtq.http.auth import hash_token
from tests.e2e.cli import mtq
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

TOKEN = "tok-alice"
CONFIG = """\
defaults:
  symbols:
    - {name: EURUSD, digits: 5, contract_size: 100000}
    - {name: XAUUSD, digits: 2, contract_size: 100}
  risk:
    initial_capital: 100000
accounts:
  - id: g-1
  - id: g-2
  - id: solo-3
groups:
  - name: trader
    accounts: [g-1, g-2]
    forbid_cross_hedge: true
    limits: {max_positions: 3, max_lots_per_symbol: 1}
"""
ACCOUNTS = ("g-1", "g-2", "solo-3")
HEDGE = (
    "cross-hedge in group trader: sell EURUSD opposite to account g-2 holds buy 0.1 EURUSD"
    " (position 7)"
)


async def check(nc: Client, account_id: str, side: str, n: int, symbol: str = "EURUSD") -> Any:
    request = RiskCheckRequest(
        account_id=account_id, symbol=symbol, side=side,  # type: ignore[arg-type]
        volume=0.1, price=1.085, client_order_id=f"{account_id}-{n}",
    )  # fmt: skip
    reply = await nc.request(subjects.risk_check(account_id), encode(request), timeout=5)
    assert not (reply.headers or {}).get("Nats-Service-Error-Code"), reply.headers
    return msgspec.json.decode(reply.data, type=RiskCheckReply)


async def start(feed: FactFeed, process: Any) -> int:
    last = 0
    for account_id in ACCOUNTS:
        last = await feed.snapshot(account_id, 100_000, 100_000)
        await feed.tick(account_id, "EURUSD", 1.08490, 1.08500, T0)
    await settled(process, last)
    return last


def written(tmp_path: Path) -> Path:
    path = tmp_path / "groups.yaml"
    path.write_text(CONFIG)
    return path


async def test_cross_hedge_denied_across_the_group_detected_anyway_limits_and_audited(
    engine_bus: tuple[str, Client, FactFeed], tmp_path: Path
) -> None:
    url, nc, feed = engine_bus
    async with running_engine(url, load(written(tmp_path))) as process:
        await start(feed, process)
        await settled(process, await feed.opened("g-2", 7, side="buy"))
        denied = await check(nc, "g-1", "sell", 1)
        assert not denied.approved
        assert list(denied.reasons) == [HEDGE]
        assert (await check(nc, "g-1", "buy", 2)).approved  # same side as g-2: no hedge
        assert (await check(nc, "solo-3", "sell", 3)).approved  # not in the group

        # a terminal lets the hedge through anyway: recorded on the account that opened it
        await settled(process, await feed.opened("g-1", 8, side="sell"))
        hedges = [d for d in read_decisions(url) if d.type == "CrossHedgeDetected"]
        assert [(d.account_id, d.body["identifier"], d.body["group"]) for d in hedges] == [
            ("g-1", 8, "trader")
        ]
        assert hedges[0].body["opposite"] == [
            {"account_id": "g-2", "identifier": 7, "side": "buy", "volume": "0.1"}
        ]

        await settled(process, await feed.opened("g-1", 9, side="sell"))  # 3 positions now
        full = await check(nc, "g-2", "buy", 4, symbol="XAUUSD")
        assert list(full.reasons) == ["group trader: positions 4 > max_positions 3"]
        await settled(process, await feed.opened("g-2", 10, symbol="XAUUSD"))
        violated = [d.body for d in read_decisions(url) if d.type == "GroupLimitViolated"]
        assert [(v["account_id"], v["rule"], v["value"], v["limit"]) for v in violated] == [
            ("g-2", "max_positions", "4", "3")
        ]
    result = await run_verify(nc, open_store(url))
    assert result.identical, result.summary()
    assert result.decisions == len(read_decisions(url))
    one = await run_verify(nc, open_store(url), accounts={"g-1"})
    assert one.identical, one.summary()
    assert one.accounts == 2  # g-1's group is replayed with it: its pre-trade reads g-2
    tampered = await without_group(nc, url, "g-1")
    assert not tampered.identical
    assert tampered.difference is not None
    assert "OrderDenied" in tampered.difference.recorded  # the group is what denied it
    assert HEDGE in tampered.difference.recorded


async def without_group(nc: Client, url: str, account_id: str) -> VerifyResult:
    """Audit verify with `account_id` registered, as RISK says, outside any group."""
    store = open_store(url)
    recorded = await asyncio.to_thread(read_recorded, store)
    for events in recorded.by_aggregate.values():
        for i, entry in enumerate(events):
            if entry.type_name == "AccountRegistered" and entry.event.account_id == account_id:
                body = json.loads(entry.stored.state)
                assert body["rules"]["group"]["name"] == "trader"
                del body["rules"]["group"]
                state = json.dumps(body, separators=(",", ":")).encode()
                stored = dataclasses.replace(entry.stored, state=state)
                events[i] = RecordedEvent(stored, store.mapper.to_domain_event(stored))
    facts = read_facts(nc.jetstream(), until_seq=recorded.tracking)
    return await verify(facts, recorded, store.mapper)


async def test_group_control_over_http_reaches_every_member_and_the_hedge_is_alerted(
    engine_bus: tuple[str, Client, FactFeed], tmp_path: Path
) -> None:
    url, _nc, feed = engine_bus
    config = load(written(tmp_path))
    db_url = f"sqlite:///{tmp_path / 'views.sqlite'}"
    seed_views(db_url, list(ACCOUNTS))
    settings = ApiSettings.from_config(config, db_url, nats_url=url, request_timeout_s=5.0)
    settings = replace(settings, tokens=(ApiTokenConfig(name="alice", sha256=hash_token(TOKEN)),))
    async with running_engine(url, config) as process, running_api(settings) as api:
        await eventually(lambda: api.state.nc is not None, timeout=10)
        await start(feed, process)
        async with api.client(TOKEN) as client:
            unknown = await client.post("/api/v1/groups/nobody/pause", json={"reason": "x"})
            assert unknown.status_code == 404
            assert "unknown group 'nobody'" in unknown.text
            paused = await client.post("/api/v1/groups/trader/pause", json={"reason": "news"})
            assert paused.status_code == 200, paused.text
            body = paused.json()
            assert body["actor"] == "api:alice"
            assert [(a["account_id"], a["trading_state"], a["changed"])
                    for a in body["accounts"]] == [("g-1", "REDUCING", True),
                                                   ("g-2", "REDUCING", True)]  # fmt: skip
            stopped = await client.post("/api/v1/groups/trader/stop", json={"reason": "panic"})
            assert [a["trading_state"] for a in stopped.json()["accounts"]] == ["HALTED"] * 2

            await feed.opened("g-2", 7, side="buy")
            await feed.opened("g-1", 8, side="sell")

            async def hedge_alerts() -> list[dict[str, Any]]:
                page = (await client.get("/alerts", params={"account": "g-1"})).json()
                return [a for a in page["items"] if a["kind"] == "CrossHedgeDetected"]

            await eventually(hedge_alerts, timeout=10)
            (alert,) = await hedge_alerts()
            assert "cross-hedge in group trader: position 8 sell 0.1 EURUSD" in alert["summary"]
    changes = [d for d in read_decisions(url) if d.type == "TradingStateChanged"]
    assert {(d.account_id, d.body["state"], d.body["actor"]) for d in changes} == {
        (a, s, "api:alice") for a in ("g-1", "g-2") for s in ("REDUCING", "HALTED")
    }
    assert all("group trader: " in d.body["reason"] for d in changes)
    assert "solo-3" not in {d.account_id for d in changes}


async def test_mtq_control_group_pauses_and_stops_every_member_as_this_identity(
    engine_bus: tuple[str, Client, FactFeed], tmp_path: Path
) -> None:
    url, _nc, feed = engine_bus
    path = written(tmp_path)
    async with running_engine(url, load(path)) as process:
        await start(feed, process)
        base = ("--group", "trader", "--config", str(path), "--nats-url", url)
        paused = await asyncio.to_thread(mtq, "control", "pause", "--reason", "news", *base)
        assert paused.returncode == 0, paused.stdout + paused.stderr
        assert paused.stdout.splitlines() == ["g-1: now REDUCING", "g-2: now REDUCING"]
        stop = await asyncio.to_thread(mtq, "control", "emergency-stop", "--reason", "x", *base)
        assert stop.returncode == 0, stop.stdout + stop.stderr
        refused = await asyncio.to_thread(mtq, "control", "resume", "--reason", "y", *base)
        assert refused.returncode == 2  # HALTED is left by a reset, not a resume
        assert refused.stdout.count("refused: ") == 2, refused.stdout
        unknown = await asyncio.to_thread(
            mtq, "control", "pause", "--reason", "z", *base[:1], "nobody", *base[2:]
        )
        assert unknown.returncode == 2
        assert "unknown group 'nobody'" in unknown.stderr
    changes = [d for d in read_decisions(url) if d.type == "TradingStateChanged"]
    assert [(d.account_id, d.body["state"]) for d in changes] == [
        ("g-1", "REDUCING"), ("g-2", "REDUCING"), ("g-1", "HALTED"), ("g-2", "HALTED"),
    ]  # fmt: skip
    assert all(d.body["reason"].startswith(("pause: group trader", "halt: group trader"))
               for d in changes)  # fmt: skip
