"""Risk requests bound to who asks (issue 21 items 1 and 2), on a secured nats-server with the
engine running as its own identity: an agent checks only its own account, and the recorded
actor of a control is the NATS identity (or `api:<token>`), never what the body claims."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator

import msgspec
import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg

from bus import subjects
from bus.codec import encode
from bus.connection import ConnectSettings, connect
from bus.schemas.risk import RiskCheckReply, RiskCheckRequest, RiskControlRequest
from bus.topology import ensure_topology
from engine.bootstrap import EngineProcess
from tests.integration.engine_support import (
    Decision,
    FactFeed,
    load,
    read_decisions,
    running_engine,
    settled,
    write_config,
)
from tests.integration.secured_support import Secured, login, secured_server

pytestmark = pytest.mark.nats

A, B = "bind-a", "bind-b"
ACCOUNTS = f"""\
  - id: {A}
    risk: {{initial_capital: 10000, daily_loss: {{limit_percent: 5}}}}
  - id: {B}
    risk: {{initial_capital: 10000, daily_loss: {{limit_percent: 5}}}}
"""


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    with secured_server(tmp_path_factory.mktemp("binding"), [A, B]) as running:
        yield running


@pytest.fixture(scope="module")
async def admin(secured: Secured) -> AsyncIterator[Client]:
    nc = await connect(ConnectSettings(url=secured.url, creds_file=str(secured.auth.admin_creds)))
    await ensure_topology(nc.jetstream())
    try:
        yield nc
    finally:
        await nc.close()


@pytest.fixture(scope="module")
async def engine(
    secured: Secured, admin: Client, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[EngineProcess]:
    config = load(write_config(tmp_path_factory.mktemp("binding-config"), ACCOUNTS))
    auth = secured.client_auth("engine")
    async with running_engine(secured.url, config, auth=auth) as process:
        feed = FactFeed(admin.jetstream())
        await feed.snapshot(A, 10_000, 10_000)
        await settled(process, await feed.snapshot(B, 10_000, 10_000))
        yield process


async def decisions(secured: Secured, account_id: str) -> list[Decision]:
    found = await asyncio.to_thread(read_decisions, secured.url, secured.client_auth("admin"))
    return [d for d in found if d.account_id == account_id]


def check(account_id: str, client_order_id: str = "c-1") -> bytes:
    return encode(
        RiskCheckRequest(
            account_id=account_id,
            symbol="EURUSD",
            side="buy",
            volume=0.1,
            price=1.085,
            sl=1.08,
            client_order_id=client_order_id,
        )
    )


def control(account_id: str, action: str, actor: str) -> bytes:
    body = RiskControlRequest(account_id=account_id, action=action, reason="drill", actor=actor)  # type: ignore[arg-type]
    return encode(body)


def error_of(reply: Msg) -> tuple[str, str]:
    headers = reply.headers or {}
    return headers.get("Nats-Service-Error-Code", ""), headers.get("Nats-Service-Error", "")


async def test_agent_when_it_checks_its_own_account_then_answered_and_recorded_there(
    secured: Secured, engine: EngineProcess
) -> None:
    agent = await login(secured, f"agent-{A}")
    before = len(await decisions(secured, A))
    try:
        reply = await agent.nc.request(subjects.risk_check(A), check(A, "own-1"), timeout=5)
    finally:
        await agent.close()
    assert error_of(reply) == ("", "")
    answer = msgspec.json.decode(reply.data, type=RiskCheckReply)
    assert answer.account_id == A
    assert answer.client_order_id == "own-1"
    after = await decisions(secured, A)
    assert len(after) > before
    assert after[-1].type in ("OrderApproved", "OrderDenied")
    assert after[-1].body["request"]["client_order_id"] == "own-1"


async def test_agent_when_it_checks_another_account_then_the_server_refuses_and_nothing_recorded(
    secured: Secured, engine: EngineProcess
) -> None:
    before = await decisions(secured, B)
    agent = await login(secured, f"agent-{A}")
    try:

        async def ask_b(nc: Client) -> object:
            return await nc.request(subjects.risk_check(B), check(B), timeout=0.5)

        assert await agent.outcome(ask_b) == "denied"
    finally:
        await agent.close()
    assert await decisions(secured, B) == before


async def test_check_when_body_names_another_account_than_the_subject_then_400_and_nothing_recorded(
    secured: Secured, engine: EngineProcess
) -> None:
    before_a, before_b = await decisions(secured, A), await decisions(secured, B)
    agent = await login(secured, f"agent-{A}")
    try:  # its own subject, B's account in the body: what the attacker would try next
        reply = await agent.nc.request(subjects.risk_check(A), check(B, "forged"), timeout=5)
    finally:
        await agent.close()
    code, message = error_of(reply)
    assert code == "400"
    assert f"account_id '{B}' does not match the account of the subject" in message
    assert json.loads(reply.data)["code"] == 400
    assert await decisions(secured, A) == before_a
    assert await decisions(secured, B) == before_b


async def _state_changes(secured: Secured, account_id: str) -> list[Decision]:
    return [d for d in await decisions(secured, account_id) if d.type == "TradingStateChanged"]


async def test_control_when_admin_claims_another_actor_then_admin_recorded_and_the_claim_a_note(
    secured: Secured, engine: EngineProcess, admin: Client
) -> None:
    reply = await admin.request(
        subjects.risk_control("admin"), control(A, "pause", "attacker"), timeout=5
    )
    assert error_of(reply) == ("", "")
    changed = (await _state_changes(secured, A))[-1]
    assert changed.body["actor"] == "admin"
    assert changed.body["reason"] == "pause: drill (actor named by the caller: attacker)"
    reply = await admin.request(subjects.risk_control("admin"), control(A, "resume", ""), timeout=5)
    assert error_of(reply) == ("", "")
    changed = (await _state_changes(secured, A))[-1]
    assert (changed.body["actor"], changed.body["reason"]) == ("admin", "resume: drill")


async def test_control_when_the_api_asks_then_recorded_as_api_and_the_token_name(
    secured: Secured, engine: EngineProcess
) -> None:
    api = await login(secured, "api")
    try:
        reply = await api.nc.request(
            subjects.risk_control("api"), control(B, "pause", "alice"), timeout=5
        )
        assert error_of(reply) == ("", "")
        changed = (await _state_changes(secured, B))[-1]
        assert (changed.body["actor"], changed.body["reason"]) == ("api:alice", "pause: drill")
        before = await decisions(secured, B)
        unnamed = await api.nc.request(
            subjects.risk_control("api"), control(B, "resume", ""), timeout=5
        )
        code, message = error_of(unnamed)
        assert code == "400"
        assert "must name its token" in message
        assert await decisions(secured, B) == before
        reply = await api.nc.request(
            subjects.risk_control("api"), control(B, "resume", "alice"), timeout=5
        )
        assert error_of(reply) == ("", "")
    finally:
        await api.close()


@pytest.mark.parametrize(
    ("identity", "subject"),
    [
        ("api", "mtq.risk.control.admin"),
        ("api", "mtq.risk.control"),
        (f"agent-{A}", f"mtq.risk.control.agent-{A}"),
        (f"agent-{A}", "mtq.risk.control.api"),
        ("projector", "mtq.risk.control.projector"),
        ("supervisor", "mtq.risk.control.supervisor"),
    ],
)
async def test_control_when_an_identity_names_another_then_the_server_refuses_and_nothing_recorded(
    secured: Secured, engine: EngineProcess, identity: str, subject: str
) -> None:
    before = await decisions(secured, A)
    client = await login(secured, identity)
    try:

        async def halt(nc: Client) -> object:
            return await nc.request(subject, control(A, "halt", "attacker"), timeout=0.5)

        assert await client.outcome(halt) == "denied"
    finally:
        await client.close()
    assert await decisions(secured, A) == before


async def test_control_when_sent_on_the_unbound_subject_then_nobody_serves_it(
    engine: EngineProcess, admin: Client
) -> None:
    from nats.errors import NoRespondersError

    with pytest.raises(NoRespondersError):
        await admin.request("mtq.risk.control", control(A, "halt", "x"), timeout=2)
    with pytest.raises(NoRespondersError):
        await admin.request("mtq.risk.check", check(A), timeout=2)
