"""Signals through a real engine over a real nats-server (issue 17): `mtq-orders` decides them,
RISK records them, PlaceOrder reaches CMD with the derived id, and the audit redoes them."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest
from nats.aio.client import Client

from bus import subjects
from bus.codec import encode
from bus.reader import read_facts
from bus.schemas.orders import ApprovalReply, ApprovalSubmit, SignalReply, SignalSubmit
from bus.schemas.risk import RiskControlRequest
from domain.signals import floor_to_step, signal_command_id
from engine.audit_replay import RecordedEvent, VerifyResult, verify
from engine.audit_run import read_recorded, run_verify
from engine.store import open_store
from tests.integration.engine_support import (
    T0,
    FactFeed,
    load,
    read_decisions,
    running_engine,
    settled,
    stream_messages,
)
from tests.support import eventually

pytestmark = pytest.mark.nats

CONFIG = """\
defaults:
  symbols:
    - {name: EURUSD, digits: 5, contract_size: 100000, max_spread_pips: 3}
    - {name: XAUUSD, digits: 2, contract_size: 100, tick_value: 1, tick_size: 0.01,
       volume_step: 0.01, volume_min: 0.01}
  risk:
    initial_capital: 100000
    risk_percent: 2
    max_lots_per_symbol: 5
accounts:
  - id: acc-1
  - id: acc-2
    risk: {initial_capital: 50000}
  - id: acc-3
    risk: {initial_capital: 23456.78}
strategies:
  - name: copier
    secret_env: MTQ_TEST_SIGNAL_SECRET
    accounts: all
    approval: auto
    sizing: {risk_percent: 1}
  - name: desk
    secret_env: MTQ_TEST_SIGNAL_SECRET
    accounts: [acc-1]
    approval: manual
    sizing: {fixed: 0.1}
    expires_after_seconds: 30
"""
EQUITIES = {"acc-1": 100_000.0, "acc-2": 50_000.0, "acc-3": 23_456.78}


async def submit(nc: Client, identity: str, **fields: Any) -> SignalReply:
    body = {"symbol": "EURUSD", "side": "buy", "sl": 1.08200, **fields}
    reply = await nc.request(
        subjects.orders_submit(identity), encode(SignalSubmit(**body)), timeout=10
    )
    assert not (reply.headers or {}).get("Nats-Service-Error-Code"), reply.headers
    return msgspec.json.decode(reply.data, type=SignalReply)


async def submit_error(nc: Client, identity: str, **fields: Any) -> tuple[str, str]:
    body = {"symbol": "EURUSD", "side": "buy", **fields}
    reply = await nc.request(subjects.orders_submit(identity), msgspec.json.encode(body), timeout=5)
    headers = reply.headers or {}
    return headers.get("Nats-Service-Error-Code", ""), headers.get("Nats-Service-Error", "")


async def approve(nc: Client, identity: str, **fields: Any) -> ApprovalReply:
    reply = await nc.request(
        subjects.orders_approve(identity), encode(ApprovalSubmit(**fields)), timeout=10
    )
    assert not (reply.headers or {}).get("Nats-Service-Error-Code"), reply.headers
    return msgspec.json.decode(reply.data, type=ApprovalReply)


async def serving(process: Any) -> None:
    """The engine serves mtq-orders once it has caught up (after `ready`)."""
    await eventually(lambda: process.orders_micro is not None, timeout=10)


async def start(feed: FactFeed, process: Any) -> None:
    await serving(process)
    last = 0
    for account_id, equity in EQUITIES.items():
        last = await feed.snapshot(account_id, equity, equity)
        await feed.tick(account_id, "EURUSD", 1.08490, 1.08500, T0)
        await feed.tick(account_id, "XAUUSD", 2349.70, 2350.00, T0)
    await settled(process, last)


async def place_orders(nc: Client) -> list[tuple[str, dict[str, Any], dict[str, str]]]:
    info = await nc.jetstream().stream_info(subjects.STREAM_CMD)
    if not info.state.messages:
        return []
    return [m for m in await stream_messages(nc.jetstream(), subjects.STREAM_CMD)
            if m[0].endswith(".place_order")]  # fmt: skip


def of_signal(signal_id: str, url: str) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (d.account_id, d.type, d.body)
        for d in read_decisions(url)
        if d.body.get("signal_id") == signal_id
        or d.body.get("request", {})
        .get("client_order_id", "")
        .startswith(tuple(signal_command_id(signal_id, a) for a in EQUITIES))
    ]


async def verified(nc: Client, url: str) -> None:
    result = await run_verify(nc, open_store(url))
    assert result.identical, result.summary()
    assert result.decisions == len(read_decisions(url))


async def tampered_verify(nc: Client, url: str, signal_id: str) -> VerifyResult:
    """Audit verify over RISK as read, with one recorded SignalReceived asking 2% not 1%."""
    store = open_store(url)
    recorded = await asyncio.to_thread(read_recorded, store)
    for events in recorded.by_aggregate.values():
        for i, entry in enumerate(events):
            if entry.type_name == "SignalReceived" and entry.event.signal_id == signal_id:
                body = json.loads(entry.stored.state)
                assert body["risk_percent"] == "1.0"
                state = json.dumps({**body, "risk_percent": "2"}, separators=(",", ":")).encode()
                stored = dataclasses.replace(entry.stored, state=state)
                events[i] = RecordedEvent(stored, store.mapper.to_domain_event(stored))
                break
    facts = read_facts(nc.jetstream(), until_seq=recorded.tracking)
    return await verify(facts, recorded, store.mapper)


async def test_fan_out_sized_by_risk_percent_placed_on_cmd_with_derived_ids_and_replayed(
    engine_bus: tuple[str, Client, FactFeed], tmp_path: Path
) -> None:
    url, nc, feed = engine_bus
    path = tmp_path / "signals.yaml"
    path.write_text(CONFIG)
    async with running_engine(url, load(path)) as process:
        await start(feed, process)
        reply = await submit(nc, "strategy-copier", signal_id="fan-1", strategy="copier")
        assert not reply.duplicate
        assert [a.status for a in reply.accounts] == ["sent", "sent", "sent"], reply
        # by hand: 1% of equity over (0.00300 / 0.00001 * 1 USD) = 300 USD per lot, down to
        # the 0.01 step: 100000 -> 1000/300 = 3.33; 50000 -> 500/300 = 1.66;
        # 23456.78 -> 234.5678/300 = 0.7818... -> 0.78
        assert [a.volume for a in reply.accounts] == ["3.33", "1.66", "0.78"]
        by_hand = [
            floor_to_step(Decimal(str(e)) / 100 / 300, Decimal("0.01")) for e in EQUITIES.values()
        ]
        assert [Decimal(a.volume or "0") for a in reply.accounts] == by_hand
        placed = await place_orders(nc)
        assert len(placed) == 3
        for account_id, answer in zip(EQUITIES, reply.accounts, strict=True):
            command_id = signal_command_id("fan-1", account_id)
            assert answer.command_id == command_id
            subject, body, headers = next(m for m in placed if m[1]["account_id"] == account_id)
            assert subject == f"cmd.{account_id}.place_order"
            assert headers["Nats-Msg-Id"] == command_id
            assert body["volume"] == float(answer.volume or 0)
            assert (body["sl"], body["signal_id"], body["order_type"]) == (1.082, "fan-1", "market")
        again = await submit(nc, "strategy-copier", signal_id="fan-1", strategy="copier")
        assert again.duplicate
        assert again.accounts == reply.accounts
        decided = len(read_decisions(url))
        assert len(await place_orders(nc)) == 3
        assert decided == len(read_decisions(url))  # the repeat recorded nothing
        recorded = of_signal("fan-1", url)
        types = [t for a, t, _ in recorded if a == "acc-3"]
        assert types == ["SignalReceived", "SignalSized", "Approved", "OrderApproved",
                         "OrderPlaced"]  # fmt: skip
        received = next(b for a, t, b in recorded if t == "SignalReceived")
        assert received["actor"] == "strategy:copier"
        assert received["received_at"] == T0.isoformat()  # the account's fact time
    await verified(nc, url)
    tampered = await tampered_verify(nc, url, "fan-1")
    assert not tampered.identical
    assert tampered.difference is not None
    assert "SignalSized" in tampered.difference.recorded  # 2% sizes another volume


async def test_manual_approval_by_api_with_the_actor_recorded_then_expiry(
    engine_bus: tuple[str, Client, FactFeed], tmp_path: Path
) -> None:
    url, nc, feed = engine_bus
    path = tmp_path / "signals.yaml"
    path.write_text(CONFIG)
    async with running_engine(url, load(path)) as process:
        await start(feed, process)
        waiting = await submit(nc, "admin", signal_id="m-1", strategy="desk")
        assert [(a.account_id, a.status, a.volume) for a in waiting.accounts] == [
            ("acc-1", "awaiting_approval", "0.10")
        ]
        assert await place_orders(nc) == []
        answer = await approve(
            nc, "api", signal_id="m-1", account_id="acc-1", decision="approve",
            reason="checked the chart", actor="alice",
        )  # fmt: skip
        assert answer.status == "sent"
        assert answer.actor == "api:alice"
        assert answer.command_id == signal_command_id("m-1", "acc-1")
        assert len(await place_orders(nc)) == 1
        approved = next(b for _, t, b in of_signal("m-1", url) if t == "Approved")
        assert (approved["actor"], approved["reason"]) == ("api:alice", "checked the chart")
        # the first answer stays the answer to a repeat
        assert (await submit(nc, "admin", signal_id="m-1", strategy="desk")).accounts == (
            waiting.accounts
        )

        await submit(nc, "admin", signal_id="m-2", strategy="desk")
        await settled(process, await feed.heartbeat("acc-1", T0 + timedelta(seconds=30)))
        assert not [t for _, t, _ in of_signal("m-2", url) if t == "SignalExpired"]
        await settled(process, await feed.heartbeat("acc-1", T0 + timedelta(seconds=31)))
        expired = [b for _, t, b in of_signal("m-2", url) if t == "SignalExpired"]
        assert len(expired) == 1
        assert expired[0]["approval_id"] == "m-2:acc-1"
        late = await approve(nc, "admin", signal_id="m-2", account_id="acc-1", decision="approve")
        assert late.status == "expired"
        assert late.actor == ""
        assert len(await place_orders(nc)) == 1

        await submit(nc, "admin", signal_id="m-3", strategy="desk")
        no = await approve(nc, "admin", signal_id="m-3", account_id="acc-1", decision="reject",
                           reason="news", actor="bob")  # fmt: skip
        assert (no.status, no.actor) == ("rejected", "admin")
        rejected = next(b for _, t, b in of_signal("m-3", url) if t == "Rejected")
        assert rejected["reason"] == "news (actor named by the caller: bob)"
    await verified(nc, url)


async def test_rejection_by_risk_halted_lots_and_spread(
    engine_bus: tuple[str, Client, FactFeed], tmp_path: Path
) -> None:
    url, nc, feed = engine_bus
    path = tmp_path / "signals.yaml"
    path.write_text(CONFIG)
    async with running_engine(url, load(path)) as process:
        await start(feed, process)
        lots = await submit(nc, "admin", signal_id="r-lots", strategy="copier",
                            accounts=["acc-1"], volume=6.0)  # fmt: skip
        (answer,) = lots.accounts
        assert answer.status == "rejected"
        assert "lots 6.00 > max_lots_per_symbol 5" in answer.reason
        await feed.tick("acc-2", "EURUSD", 1.08400, 1.08500, T0)  # 10 pips wide
        spread = await submit(nc, "admin", signal_id="r-spread", strategy="copier",
                              accounts=["acc-2"])  # fmt: skip
        assert "spread 10.00 pips > max_spread_pips 3" in spread.accounts[0].reason
        control = RiskControlRequest(account_id="acc-3", action="halt", reason="test")
        await nc.request(subjects.risk_control("admin"), encode(control), timeout=5)
        halted = await submit(nc, "admin", signal_id="r-halt", strategy="copier",
                              accounts=["acc-3"])  # fmt: skip
        assert "trading_state HALTED" in halted.accounts[0].reason
        assert await place_orders(nc) == []
        denied = [t for _, t, _ in of_signal("r-halt", url)]
        assert denied[-2:] == ["OrderDenied", "Rejected"]
    await verified(nc, url)


async def test_identities_bound_and_fields_named(
    engine_bus: tuple[str, Client, FactFeed], tmp_path: Path
) -> None:
    url, nc, feed = engine_bus
    path = tmp_path / "signals.yaml"
    path.write_text(CONFIG)
    async with running_engine(url, load(path)) as process:
        await start(feed, process)
        before = len(read_decisions(url))
        code, message = await submit_error(
            nc, "strategy-desk", signal_id="x-1", strategy="copier", volume=0.1
        )
        assert (code, message) == (
            "403",
            "identity strategy-desk may submit only for strategy 'desk'",
        )
        code, message = await submit_error(
            nc, "admin", signal_id="x-2", strategy="copier", volume=0.1, risk_percent=1
        )
        assert code == "400"
        assert message.startswith("volume, risk_percent")
        code, message = await submit_error(
            nc, "admin", signal_id="x-3", strategy="desk", accounts=["acc-2"]
        )
        assert (code, message.split(":")[0]) == ("400", "accounts")
        code, message = await submit_error(nc, "api", signal_id="x-4", strategy="desk")
        assert (code, message.split(":")[0]) == ("400", "actor")
        code, _ = await submit_error(nc, "admin", signal_id="x-5", strategy="nope")
        assert code == "404"
        assert len(read_decisions(url)) == before


async def test_after_a_restart_an_awaited_approval_is_still_decided_and_the_first_answer_kept(
    engine_bus: tuple[str, Client, FactFeed], tmp_path: Path
) -> None:
    url, nc, feed = engine_bus
    path = tmp_path / "signals.yaml"
    path.write_text(CONFIG)
    async with running_engine(url, load(path)) as process:
        await start(feed, process)
        first = await submit(nc, "admin", signal_id="re-1", strategy="desk")
        sent = await submit(nc, "admin", signal_id="re-2", strategy="copier", accounts=["acc-2"])
    async with running_engine(url, load(path), snapshot_every=1) as process:
        await serving(process)
        again = await submit(nc, "admin", signal_id="re-1", strategy="desk")
        assert again.duplicate
        assert again.accounts == first.accounts
        assert (await submit(nc, "admin", signal_id="re-2", strategy="copier")).accounts == (
            sent.accounts
        )
        answer = await approve(nc, "admin", signal_id="re-1", account_id="acc-1",
                               decision="approve")  # fmt: skip
        assert answer.status == "sent"
        assert len(await place_orders(nc)) == 2
    async with running_engine(url, load(path)) as process:  # from the snapshot just taken
        await serving(process)
        assert (await submit(nc, "admin", signal_id="re-1", strategy="desk")).duplicate
    await verified(nc, url)
