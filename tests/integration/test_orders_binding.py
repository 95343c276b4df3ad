"""Signals bound to who submits them, on a secured nats-server with the engine as its own
identity: `strategy-<name>` may publish only `mtq.orders.submit.strategy-<name>`, the engine
answers 403 to a body naming another strategy, and nobody but `api`/`admin` approves."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import msgspec
import pytest
from nats.aio.client import Client

from bus import subjects
from bus.codec import encode
from bus.connection import ConnectSettings, connect
from bus.embedded import EmbeddedNatsServer
from bus.schemas.orders import ApprovalSubmit, SignalReply, SignalSubmit
from bus.security.authdir import AuthDir
from bus.topology import ensure_topology
from engine.bootstrap import EngineProcess
from tests.integration.engine_support import (
    T0,
    Decision,
    FactFeed,
    load,
    read_decisions,
    running_engine,
    settled,
    write_config,
)
from tests.integration.secured_support import Secured, login
from tests.support import eventually

pytestmark = pytest.mark.nats

A = "sig-a"
ACCOUNTS = f"""\
  - id: {A}
    risk: {{initial_capital: 10000}}
strategies:
  - {{name: alpha, secret_env: MTQ_ALPHA_SECRET, approval: auto, sizing: {{fixed: 0.1}}}}
  - {{name: beta, secret_env: MTQ_BETA_SECRET, approval: manual, sizing: {{fixed: 0.1}}}}
"""


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    base = tmp_path_factory.mktemp("orders-binding")
    auth = AuthDir(base / "auth").generate([A], ["alpha", "beta"])
    with EmbeddedNatsServer(data_dir=base / "nats", auth_conf=auth.server_conf) as server:
        yield Secured(server, auth)


@pytest.fixture(scope="module")
async def engine(
    secured: Secured, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[EngineProcess]:
    admin = await connect(
        ConnectSettings(url=secured.url, creds_file=str(secured.auth.admin_creds))
    )
    await ensure_topology(admin.jetstream())
    config = load(write_config(tmp_path_factory.mktemp("orders-config"), ACCOUNTS))
    try:
        async with running_engine(secured.url, config, auth=secured.client_auth("engine")) as p:
            feed = FactFeed(admin.jetstream())
            await feed.tick(A, "EURUSD", 1.08490, 1.08500, T0)
            await settled(p, await feed.snapshot(A, 10_000, 10_000))
            await eventually(lambda: p.orders_micro is not None, timeout=10)
            yield p
    finally:
        await admin.close()


async def decisions(secured: Secured) -> list[Decision]:
    return await asyncio.to_thread(read_decisions, secured.url, secured.client_auth("admin"))


def signal(signal_id: str, strategy: str) -> bytes:
    body = SignalSubmit(
        signal_id=signal_id, strategy=strategy, symbol="EURUSD", side="buy", sl=1.08
    )
    return encode(body)


async def test_strategy_when_it_submits_its_own_signal_then_recorded_as_it(
    secured: Secured, engine: EngineProcess
) -> None:
    alpha = await login(secured, "strategy-alpha")
    try:
        reply = await alpha.nc.request(
            subjects.orders_submit("strategy-alpha"), signal("own-1", "alpha"), timeout=5
        )
    finally:
        await alpha.close()
    assert not (reply.headers or {}).get("Nats-Service-Error-Code"), reply.headers
    answer = msgspec.json.decode(reply.data, type=SignalReply)
    assert [(a.account_id, a.status) for a in answer.accounts] == [(A, "sent")]
    received = [d.body for d in await decisions(secured) if d.type == "SignalReceived"]
    assert [(b["signal_id"], b["actor"]) for b in received if b["signal_id"] == "own-1"] == [
        ("own-1", "strategy:alpha")
    ]


async def test_strategy_when_it_names_another_then_refused_by_server_or_engine(
    secured: Secured, engine: EngineProcess
) -> None:
    before = await decisions(secured)
    alpha = await login(secured, "strategy-alpha")
    try:

        async def as_beta(nc: Client) -> object:
            subject = subjects.orders_submit("strategy-beta")
            return await nc.request(subject, signal("x-1", "beta"), timeout=0.5)

        async def approve(nc: Client) -> object:
            body = ApprovalSubmit(signal_id="own-1", account_id=A, decision="approve")
            return await nc.request(subjects.orders_approve("strategy-alpha"), encode(body), 0.5)

        assert await alpha.outcome(as_beta) == "denied"
        assert await alpha.outcome(approve) == "denied"
        reply = await alpha.nc.request(
            subjects.orders_submit("strategy-alpha"), signal("x-2", "beta"), timeout=5
        )
        assert (reply.headers or {}).get("Nats-Service-Error-Code") == "403"
    finally:
        await alpha.close()
    assert await decisions(secured) == before


async def test_api_when_it_submits_then_recorded_as_api_and_its_token(
    secured: Secured, engine: EngineProcess
) -> None:
    api = await login(secured, "api")
    try:
        body = encode(
            SignalSubmit(
                signal_id="api-1",
                strategy="beta",
                symbol="EURUSD",
                side="buy",
                sl=1.08,
                actor="alice",
            )
        )
        reply = await api.nc.request(subjects.orders_submit("api"), body, timeout=5)
    finally:
        await api.close()
    answer = msgspec.json.decode(reply.data, type=SignalReply)
    assert [a.status for a in answer.accounts] == ["awaiting_approval"]
    received = [d.body for d in await decisions(secured) if d.type == "SignalReceived"]
    assert next(b["actor"] for b in received if b["signal_id"] == "api-1") == "api:alice"
