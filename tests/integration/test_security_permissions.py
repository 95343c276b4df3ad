"""Each identity on a real, secured nats-server: what it may do and what the server refuses."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client
from nats.errors import NoRespondersError
from nats.js.errors import NotFoundError

from bus import subjects
from bus.connection import ConnectSettings, NatsUnavailable, connect
from bus.security.authdir import AuthDir
from bus.security.client import ClientAuth
from bus.topology import ensure_topology
from tests.integration.secured_support import DENIED_WAIT_S, Secured, login, secured_server

pytestmark = pytest.mark.nats

A, B = "acc-a", "acc-b"


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    with secured_server(tmp_path_factory.mktemp("secured"), [A, B]) as running:
        yield running


@pytest.fixture(scope="module")
async def admin(secured: Secured) -> AsyncIterator[Client]:
    nc = await connect(
        ConnectSettings(url=secured.server.url, creds_file=str(secured.auth.admin_creds))
    )
    await ensure_topology(nc.jetstream())
    try:
        yield nc
    finally:
        await nc.close()


def js_publish(subject: str) -> Callable[[Client], Awaitable[object]]:
    async def op(nc: Client) -> object:
        return await nc.jetstream().publish(subject, b"{}", timeout=DENIED_WAIT_S)

    return op


def api(
    subject: str, body: dict[str, object] | None = None
) -> Callable[[Client], Awaitable[object]]:
    """A JetStream API request; allowed means the server answered (even with an API error)."""

    async def op(nc: Client) -> object:
        return await nc.request(subject, json.dumps(body or {}).encode(), timeout=DENIED_WAIT_S)

    return op


def subscribe(subject: str) -> Callable[[Client], Awaitable[object]]:
    async def op(nc: Client) -> object:
        sub = await nc.subscribe(subject)
        await nc.flush()
        await asyncio.sleep(0.1)
        await sub.unsubscribe()
        return sub

    return op


def request(subject: str) -> Callable[[Client], Awaitable[object]]:
    """A request; allowed means the server let it through and answered on the inbox (here
    with no responders: nobody serves the subject in this test)."""

    async def op(nc: Client) -> object:
        try:
            return await nc.request(subject, b"{}", timeout=DENIED_WAIT_S)
        except NoRespondersError as exc:
            return exc

    return op


def create_consumer(name: str, filter_subject: str) -> Callable[[Client], Awaitable[object]]:
    config = {"name": name, "durable_name": name, "filter_subject": filter_subject,
              "ack_policy": "explicit"}  # fmt: skip
    subject = f"$JS.API.CONSUMER.CREATE.{subjects.STREAM_CMD}.{name}.{filter_subject}"
    return api(subject, {"stream_name": subjects.STREAM_CMD, "config": config})


def stream_api(verb: str, stream: str) -> Callable[[Client], Awaitable[object]]:
    return api(f"$JS.API.STREAM.{verb}.{stream}")


AGENT_A = f"agent-{A}"
CASES: list[tuple[str, str, Callable[[Client], Awaitable[object]], str]] = [
    # identity, what, operation, expected
    (AGENT_A, "publish its own account fact", js_publish(f"mt5.{A}.account"), "allowed"),
    (AGENT_A, "publish its own heartbeat", js_publish(f"mt5.{A}.health"), "allowed"),
    (AGENT_A, "publish B's account fact", js_publish(f"mt5.{B}.account"), "denied"),
    (AGENT_A, "publish B's lifecycle", js_publish(f"mt5.{B}.lifecycle"), "denied"),
    (AGENT_A, "read B's commands", subscribe(f"cmd.{B}.>"), "denied"),
    (AGENT_A, "read every fact", subscribe("mt5.>"), "denied"),
    (AGENT_A, "read another identity's inbox", subscribe("_INBOX.engine.>"), "denied"),
    (AGENT_A, "create its own durable", create_consumer(AGENT_A, f"cmd.{A}.>"), "allowed"),
    (AGENT_A, "create a durable on B's commands", create_consumer(AGENT_A, f"cmd.{B}.>"), "denied"),
    (AGENT_A, "create B's durable", create_consumer(f"agent-{B}", f"cmd.{B}.>"), "denied"),
    (
        AGENT_A,
        "fetch from B's durable",
        api(f"$JS.API.CONSUMER.MSG.NEXT.CMD.agent-{B}", {"batch": 1}),
        "denied",
    ),
    (AGENT_A, "send a command", js_publish(f"cmd.{B}.close_all"), "denied"),
    (AGENT_A, "delete a stream", stream_api("DELETE", "MT5"), "denied"),
    (AGENT_A, "purge a stream", stream_api("PURGE", "MT5"), "denied"),
    (AGENT_A, "write RISK", js_publish("risk.events.x.1.Forged"), "denied"),
    (AGENT_A, "read RISK", api("$JS.API.DIRECT.GET.RISK", {"seq": 1}), "denied"),
    (AGENT_A, "write the status KV", js_publish("$KV.mtq_status.acc-a"), "denied"),
    (AGENT_A, "control as itself", request(f"mtq.risk.control.{AGENT_A}"), "denied"),
    (AGENT_A, "control as the api", request("mtq.risk.control.api"), "denied"),
    (AGENT_A, "check its own account", request(f"mtq.risk.check.{A}"), "allowed"),
    (AGENT_A, "check B's account", request(f"mtq.risk.check.{B}"), "denied"),
    (AGENT_A, "check without an account", request("mtq.risk.check"), "denied"),
    (AGENT_A, "show its account's limits", request("mtq.risk.show"), "denied"),
    (AGENT_A, "list MT5's subjects", stream_api("INFO", "MT5"), "denied"),
    (AGENT_A, "list the ticks' subjects", stream_api("INFO", "MT5_TICKS"), "denied"),
    (AGENT_A, "dead-letter its own command", js_publish(f"dlq.cmd.{A}.close_all"), "allowed"),
    (AGENT_A, "dead-letter B's command", js_publish(f"dlq.cmd.{B}.close_all"), "denied"),
    ("engine", "publish a fact", js_publish(f"mt5.{A}.account"), "denied"),
    ("engine", "send a command", js_publish(f"cmd.{A}.close_all"), "allowed"),
    ("engine", "write RISK", js_publish("risk.events.x.1.Noted"), "allowed"),
    ("engine", "direct-get RISK", api("$JS.API.DIRECT.GET.RISK", {"seq": 1}), "allowed"),
    ("engine", "last tick", api("$JS.API.STREAM.MSG.GET.MT5_TICKS", {"seq": 1}), "allowed"),
    (
        "engine",
        "read MT5 with a consumer",
        api(
            "$JS.API.CONSUMER.CREATE.MT5", {"stream_name": "MT5", "config": {"ack_policy": "none"}}
        ),
        "allowed",
    ),
    ("engine", "serve mtq-risk", subscribe("mtq.risk.check.*"), "allowed"),
    ("engine", "delete a stream", stream_api("DELETE", "RISK"), "denied"),
    ("engine", "purge a stream", stream_api("PURGE", "MT5"), "denied"),
    ("engine", "create a stream", stream_api("CREATE", "EVIL"), "denied"),
    ("engine", "read commands", subscribe("cmd.>"), "denied"),
    ("supervisor", "publish a lifecycle fact", js_publish(f"mt5.{B}.lifecycle"), "allowed"),
    ("supervisor", "watch heartbeats", subscribe("mt5.*.health"), "allowed"),
    ("supervisor", "publish an account fact", js_publish(f"mt5.{A}.account"), "denied"),
    ("supervisor", "send a command", js_publish(f"cmd.{A}.close_all"), "denied"),
    ("supervisor", "serve mtq-agents", subscribe("mtq.agents.list"), "allowed"),
    ("supervisor", "write RISK", js_publish("risk.events.x.1.Forged"), "denied"),
    ("projector", "write the status KV", js_publish(f"$KV.mtq_status.{A}"), "allowed"),
    ("projector", "forge a dead letter", js_publish(f"dlq.mt5.{A}.account"), "denied"),
    ("projector", "control an account", request("mtq.risk.control.projector"), "denied"),
    ("projector", "read RISK", api("$JS.API.DIRECT.GET.RISK", {"seq": 1}), "allowed"),
    ("projector", "write RISK", js_publish("risk.events.x.1.Forged"), "denied"),
    (
        "projector",
        "read ticks (candles)",
        api(
            "$JS.API.CONSUMER.CREATE.MT5_TICKS",
            {"stream_name": "MT5_TICKS", "config": {"ack_policy": "none"}},
        ),
        "allowed",
    ),
    ("projector", "publish a tick", js_publish(f"mt5.{A}.tick.EURUSD"), "denied"),
    ("projector", "publish a fact", js_publish(f"mt5.{A}.account"), "denied"),
    ("projector", "send a command", js_publish(f"cmd.{A}.close_all"), "denied"),
    ("api", "listen on a query subject", subscribe("mtq.query.status"), "denied"),
    ("projector", "listen on a query subject", subscribe("mtq.query.status"), "allowed"),
    ("api", "send a command", js_publish(f"cmd.{A}.close_all"), "denied"),
    ("api", "delete a stream", stream_api("DELETE", "MT5"), "denied"),
    ("api", "write the status KV", js_publish(f"$KV.mtq_status.{A}"), "denied"),
    ("api", "forge a dead letter", js_publish(f"dlq.mt5.{A}.account"), "denied"),
    ("api", "dead-letter a webhook", js_publish(f"dlq.api.webhook.{A}"), "allowed"),
    ("api", "check any account", request(f"mtq.risk.check.{B}"), "allowed"),
    ("api", "control as the api", request("mtq.risk.control.api"), "allowed"),
    ("api", "control as admin", request("mtq.risk.control.admin"), "denied"),
    ("api", "show an account", request("mtq.risk.show"), "allowed"),
    ("engine", "dead-letter a fact", js_publish(f"dlq.mt5.{A}.account"), "allowed"),
    ("engine", "serve control", subscribe("mtq.risk.control.*"), "allowed"),
    ("supervisor", "forge a dead letter", js_publish(f"dlq.mt5.{A}.account"), "denied"),
    ("admin", "read stream info", stream_api("INFO", "MT5"), "allowed"),
    ("admin", "publish anything", js_publish(f"mt5.{B}.account"), "allowed"),
]


@pytest.mark.parametrize(
    ("identity", "what", "op", "expected"),
    CASES,
    ids=[f"{c[0]}: {c[1]}" for c in CASES],
)
async def test_identity_when_it_acts_then_the_server_allows_only_its_own_subjects(  # noqa: PLR0917 - pytest passes fixtures and parameters by position
    secured: Secured,
    admin: Client,
    identity: str,
    what: str,
    op: Callable[[Client], Awaitable[object]],
    expected: str,
) -> None:
    client = await login(secured, identity)
    try:
        assert await client.outcome(op) == expected, what
    finally:
        await client.nc.close()


async def test_agent_when_it_forges_another_accounts_fact_then_nothing_reaches_the_stream(
    secured: Secured, admin: Client
) -> None:
    client = await login(secured, AGENT_A)
    try:
        assert await client.outcome(js_publish(f"mt5.{B}.position.opened")) == "denied"
        assert await client.outcome(js_publish(f"mt5.{A}.position.opened")) == "allowed"
    finally:
        await client.nc.close()
    js = admin.jetstream()
    own = await js.get_last_msg(subjects.STREAM_FACTS, f"mt5.{A}.position.opened")
    assert own.subject == f"mt5.{A}.position.opened"
    with pytest.raises(nats.js.errors.NotFoundError):
        await js.get_last_msg(subjects.STREAM_FACTS, f"mt5.{B}.position.opened")


async def test_client_when_unauthenticated_then_refused_with_one_line(secured: Secured) -> None:
    with pytest.raises(NatsUnavailable) as caught:
        await connect(ConnectSettings(url=secured.server.url, connect_timeout=2))
    message = str(caught.value)
    assert "\n" not in message
    assert "refused a connection without credentials: authorization violation" in message


async def test_client_when_wrong_password_then_refused(secured: Secured) -> None:
    with pytest.raises(NatsUnavailable, match="refused user 'admin': authorization violation"):
        await connect(
            ConnectSettings(
                url=secured.server.url, user="admin", password="guess", connect_timeout=2
            )
        )


async def test_client_when_creds_of_another_installation_then_refused(
    secured: Secured, tmp_path: Path
) -> None:
    foreign = AuthDir(tmp_path / "other").generate([A])
    with pytest.raises(NatsUnavailable, match=r"refused credentials file .*admin\.creds"):
        await connect(ConnectSettings(url=secured.server.url, creds_file=str(foreign.admin_creds)))


async def test_event_store_socket_client_when_identity_lacks_the_right_then_request_fails(
    secured: Secured, admin: Client
) -> None:
    from bus.eventstore.syncget import SyncDirectGetClient

    await admin.jetstream().publish("risk.events.a.1.Noted", b"{}")
    engine = SyncDirectGetClient(
        secured.server.url, auth=ClientAuth(creds_file=str(secured.auth.creds("engine")))
    )
    agent = SyncDirectGetClient(
        secured.server.url, auth=ClientAuth(creds_file=str(secured.auth.creds(AGENT_A)))
    )
    try:
        msg = await asyncio.to_thread(engine.last, "RISK", "risk.events.a.>", 2.0)
        assert msg is not None
        assert msg.subject == "risk.events.a.1.Noted"
        with pytest.raises(ConnectionError, match="Permissions Violation"):
            await asyncio.to_thread(agent.last, "RISK", "risk.events.a.>", 2.0)
    finally:
        engine.close()
        agent.close()


async def test_agent_when_its_own_create_subject_carries_another_filter_then_server_refuses(
    secured: Secured, admin: Client
) -> None:
    client = await login(secured, AGENT_A)
    try:
        config = {"name": AGENT_A, "durable_name": AGENT_A, "filter_subject": f"cmd.{B}.>"}
        reply = await client.nc.request(
            f"$JS.API.CONSUMER.CREATE.CMD.{AGENT_A}.cmd.{A}.>",
            json.dumps({"stream_name": "CMD", "config": config}).encode(),
            timeout=2,
        )
    finally:
        await client.nc.close()
    error = json.loads(reply.data)["error"]
    assert error["err_code"] == 10131  # JSConsumerCreateFilterSubjectMismatchErr
    assert "did not match filtered subject" in error["description"]
    try:  # another test may have made the agent's own durable: it must not read B's commands
        existing = await admin.jetstream().consumer_info("CMD", AGENT_A)
    except NotFoundError:
        return
    assert existing.config.filter_subject != f"cmd.{B}.>"


@pytest.mark.parametrize(
    ("identity", "subject"),
    [
        ("api", f"dlq.mt5.{A}.order.rejected"),
        ("projector", f"dlq.mt5.{A}.order.rejected"),
        ("supervisor", f"dlq.mt5.{A}.order.rejected"),
        (AGENT_A, f"dlq.mt5.{A}.order.rejected"),
        (AGENT_A, f"dlq.cmd.{B}.close_all"),
    ],
)
async def test_forged_dead_letter_when_not_a_dead_lettering_identity_then_nothing_stored(
    secured: Secured, admin: Client, identity: str, subject: str
) -> None:
    client = await login(secured, identity)
    try:
        assert await client.outcome(js_publish(subject)) == "denied"
    finally:
        await client.close()
    with pytest.raises(NotFoundError):
        await admin.jetstream().get_last_msg(subjects.STREAM_DLQ, subject)


async def test_api_when_it_writes_the_status_kv_then_refused_and_the_view_unchanged(
    secured: Secured, admin: Client
) -> None:
    kv = await admin.jetstream().key_value(subjects.KV_STATUS)
    await kv.put(A, b'{"by": "projector"}')
    client = await login(secured, "api")
    try:
        api_kv = await client.nc.jetstream().key_value(subjects.KV_STATUS)  # reading is fine
        assert (await api_kv.get(A)).value == b'{"by": "projector"}'

        async def forge(nc: Client) -> object:
            return await api_kv.put(A, b'{"by": "api"}')

        assert await client.outcome(forge) == "denied"
    finally:
        await client.close()
    assert (await kv.get(A)).value == b'{"by": "projector"}'
