"""Facts the schema allows but no terminal sends (issue 21 item 10), over a real nats-server:
each is dead-lettered on `dlq.<subject>` with a reason naming the field and decides nothing.

Every fact here is complete and well formed but for the one value under test."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest
from nats.aio.client import Client
from nats.js.errors import NotFoundError

from bus import subjects
from bus.connection import ConnectSettings, connect
from bus.embedded import EmbeddedNatsServer
from bus.schemas import AccountSnapshot, AgentHeartbeat, PositionOpened
from bus.security.identities import AGENT_MAX_PAYLOAD
from bus.security.tokens import jwt_claims, read_creds
from bus.topology import ensure_topology
from mtq.http.state import ApiSettings
from tests.integration.engine_support import (
    FactFeed,
    connect_js,
    load,
    read_decisions,
    running_engine,
    settled,
    write_config,
)
from tests.integration.secured_support import login, secured_server
from tests.integration.test_api_support import running_api
from tests.support import eventually

pytestmark = pytest.mark.nats

ACCT = "limits-1"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
NOW_MSC = int(NOW.timestamp() * 1000)
ACCOUNTS = f"""\
  - id: {ACCT}
    risk: {{initial_capital: 10000, daily_loss: {{limit_percent: 5}}}}
"""

SNAPSHOT = AccountSnapshot(
    account_id=ACCT, login=7, balance=10_000.0, equity=10_000.0, margin=0.0,
    margin_free=10_000.0, margin_level=0.0, profit=0.0, currency="USD", server="sim", time=NOW,
)  # fmt: skip
OPENED = PositionOpened(
    account_id=ACCT, ticket=900, identifier=900, symbol="EURUSD", side="buy", volume=0.1,
    price_open=1.085, price_current=1.085, sl=1.08, reason="expert", time_msc=NOW_MSC,
)  # fmt: skip


def with_value(fact: msgspec.Struct, field: str, value: Any) -> bytes:
    """`fact` as JSON with `field` set to `value`; a str value is JSON text written as it is
    (`NaN`, or a quoted time)."""
    body = msgspec.to_builtins(fact)
    body[field] = "<<raw>>" if isinstance(value, str) else value
    text = msgspec.json.encode(body).decode()
    return text.replace('"<<raw>>"', value).encode() if isinstance(value, str) else text.encode()


HEARTBEAT = AgentHeartbeat(
    account_id="payload-1", agent_id="agent-payload-1", pid=1, terminal_connected=True,
    breaker_state="closed", terminal_latency_ms=2.0, time=NOW,
)  # fmt: skip


POSITION = subjects.position(ACCT, "opened")
ACCOUNT = subjects.account_snapshot(ACCT)
CASES: list[tuple[str, str, bytes, str]] = [
    # what, subject, data, words the reason must contain
    ("NaN equity", ACCOUNT, with_value(SNAPSHOT, "equity", "NaN"), "$.equity is not a finite"),
    ("Inf equity", ACCOUNT, with_value(SNAPSHOT, "equity", "Infinity"), "$.equity is not a fin"),
    ("-Inf balance", ACCOUNT, with_value(SNAPSHOT, "balance", "-Infinity"), "$.balance is not"),
    ("equity past a double", ACCOUNT, with_value(SNAPSHOT, "equity", "1e999"), "`$.equity`"),
    ("negative balance", ACCOUNT, with_value(SNAPSHOT, "balance", -0.01), "balance -0.01 is neg"),
    ("volume 0", POSITION, with_value(OPENED, "volume", 0.0), "volume 0.0 lots is out of range"),
    (
        "volume 1e9",
        POSITION,
        with_value(OPENED, "volume", 1e9),
        "volume 1000000000.0 lots is out of",
    ),
    ("opened in 1970", POSITION, with_value(OPENED, "time_msc", 0), "time_msc 0 (1970-01-01"),
    (
        "snapshot in 2100",
        ACCOUNT,
        with_value(SNAPSHOT, "time", '"2100-01-01T00:00:00Z"'),
        "time (2100-01-01T00:00:00+00:00) is outside 2000 to 2100",
    ),
    (
        "snapshot in 1970",
        ACCOUNT,
        with_value(SNAPSHOT, "time", '"1970-01-01T00:00:00Z"'),
        "time (1970-01-01T00:00:00+00:00) is outside",
    ),
]


@pytest.fixture
async def engine_nc(fresh_nats_server: EmbeddedNatsServer) -> AsyncIterator[tuple[str, Client]]:
    nc, js = await connect_js(fresh_nats_server.url)
    await ensure_topology(js)
    try:
        yield fresh_nats_server.url, nc
    finally:
        await nc.close()


def test_cases_when_built_then_each_differs_from_a_valid_fact_in_one_value_only() -> None:
    valid = msgspec.to_builtins(SNAPSHOT)
    nan_case = CASES[0][2].replace(b"NaN", b"10000.0")
    assert msgspec.json.decode(nan_case) == valid
    assert msgspec.json.decode(with_value(OPENED, "volume", 0.1)) == msgspec.to_builtins(OPENED)


async def test_facts_when_values_are_absurd_then_dead_lettered_naming_the_field_and_no_decision(
    engine_nc: tuple[str, Client], tmp_path: Path
) -> None:
    url, nc = engine_nc
    js = nc.jetstream()
    feed = FactFeed(js, now=NOW)
    config = load(write_config(tmp_path, ACCOUNTS))
    async with running_engine(url, config) as process:
        await settled(process, await feed.snapshot(ACCT, 10_000, 10_000))
        before = read_decisions(url)
        for index, (_, subject, data, _) in enumerate(CASES):
            await js.publish(subject, data, headers={"Nats-Msg-Id": f"absurd-{index}"})
        await settled(process, await feed.snapshot(ACCT, 10_000, 10_000, at=NOW))
        after = read_decisions(url)
        assert process.engine.stats.rejected == len(CASES)
    assert after == before, "an absurd fact decided something"

    async def dead_letters() -> list[tuple[str, bytes, str]]:
        found = await raw_messages(nc, subjects.STREAM_DLQ)
        assert len(found) >= len(CASES)
        return found

    found = await eventually(dead_letters, message="a dead letter per absurd fact")
    for what, subject, data, why in CASES:
        reasons = [error for s, d, error in found if s == subjects.dlq(subject) and d == data]
        assert len(reasons) == 1, (what, found)
        assert why in reasons[0], (what, reasons[0])


async def raw_messages(nc: Client, stream: str) -> list[tuple[str, bytes, str]]:
    """(subject, bytes as stored, Mtq-Error) of every message of `stream`."""
    js = nc.jetstream()
    info = await js.stream_info(stream)
    found = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        msg = await js.get_msg(stream, seq)
        found.append((msg.subject or "", msg.data or b"", (msg.headers or {}).get("Mtq-Error", "")))
    return found


# --- HTTP request bodies ------------------------------------------------------------

BIG = 20 * 1024 * 1024


def _settings(tmp_path: Path, **given: Any) -> ApiSettings:
    return ApiSettings(db_url=f"sqlite:///{tmp_path / 'views.sqlite'}", **given)


async def _head_then_read(url: str, head: bytes, chunks: int = 0) -> tuple[bytes, int]:
    """Send `head` (then up to `chunks` chunks of 64 KiB, stopping once an answer comes);
    the answer and how many chunks went out."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    sent = 0
    try:
        writer.write(head)
        await writer.drain()
        chunk = b"%x\r\n%s\r\n" % (64 * 1024, b"x" * 64 * 1024)
        while sent < chunks:
            try:
                answer = await asyncio.wait_for(reader.read(65536), 0.01)
            except TimeoutError:
                answer = b""
            if answer:
                return answer + await reader.read(), sent
            try:
                writer.write(chunk)
                await writer.drain()
            except ConnectionError:
                break
            sent += 1
        return await asyncio.wait_for(reader.read(), 10), sent
    finally:
        writer.close()


async def test_http_when_content_length_is_over_the_cap_then_413_before_the_body_is_sent(
    tmp_path: Path,
) -> None:
    async with running_api(_settings(tmp_path)) as api:
        head = (
            b"POST /accounts/acc-a/orders/check HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % BIG
        )
        answer, _ = await _head_then_read(api.url, head)  # not one byte of the body sent
    status, _, rest = answer.partition(b"\r\n")
    assert status == b"HTTP/1.1 413 Request Entity Too Large"
    body = json.loads(rest.partition(b"\r\n\r\n")[2])
    assert body["code"] == 413
    assert body["message"] == (
        f"request body too large: {BIG} bytes; this API takes at most 1048576 bytes "
        "(config `api.max_body_bytes`)"
    )


async def test_http_when_a_chunked_body_passes_the_cap_then_413_and_the_rest_is_not_read(
    tmp_path: Path,
) -> None:
    async with running_api(_settings(tmp_path, max_body_bytes=256 * 1024)) as api:
        head = (
            b"POST /accounts/acc-a/orders/check HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        answer, sent = await _head_then_read(api.url, head, chunks=BIG // (64 * 1024))
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert b"this API takes at most 262144 bytes" in answer
    assert sent < BIG // (64 * 1024) // 2, f"{sent} chunks of 64 KiB went out before the 413"


async def test_http_when_the_body_is_under_the_cap_then_handled_as_before(tmp_path: Path) -> None:
    async with running_api(_settings(tmp_path, max_body_bytes=1000)) as api, api.client() as http:
        small = await http.post("/accounts/acc-a/orders/check", json={"symbol": "EURUSD"})
        large = await http.post("/accounts/acc-a/orders/check", content=b"{" + b" " * 1000 + b"}")
    assert small.status_code == 403  # taken, then refused: no token is configured
    assert large.status_code == 413
    assert "at most 1000 bytes" in large.json()["message"]


def test_config_when_api_max_body_bytes_set_then_the_api_settings_carry_it(tmp_path: Path) -> None:
    path = write_config(tmp_path, ACCOUNTS)
    path.write_text("api: {max_body_bytes: 4096}\n" + path.read_text(), encoding="utf-8")
    config = load(path)
    assert config.api.max_body_bytes == 4096
    assert ApiSettings.from_config(config, "sqlite://").max_body_bytes == 4096
    assert load(write_config(tmp_path, ACCOUNTS, "default.yaml")).api.max_body_bytes == 1024 * 1024


# --- NATS payloads of agents ---------------------------------------------------------


async def test_agent_when_it_publishes_more_than_a_fact_needs_then_the_server_refuses_it(
    tmp_path: Path,
) -> None:
    account = "payload-1"
    with secured_server(tmp_path, [account]) as secured:
        admin = await connect(
            ConnectSettings(url=secured.url, creds_file=str(secured.auth.admin_creds))
        )
        try:
            await ensure_topology(admin.jetstream())
            agent = await login(secured, f"agent-{account}")
            ages = {f"SYMBOL{i:03d}": 12.5 for i in range(500)}  # a heartbeat of 500 symbols
            heartbeat = with_value(HEARTBEAT, "last_tick_age_s", json.dumps(ages))
            assert len(heartbeat) < AGENT_MAX_PAYLOAD
            ack = await agent.nc.jetstream().publish(subjects.health(account), heartbeat)
            assert ack.stream == subjects.STREAM_FACTS
            too_big = b"{" + b" " * AGENT_MAX_PAYLOAD + b"}"
            with pytest.raises(Exception):  # noqa: B017, PT011 - the server drops the client
                await agent.nc.jetstream().publish(
                    subjects.account_snapshot(account), too_big, timeout=2
                )
            log = secured.server.log_path

            def refused_in_the_server_log() -> bool:
                return "maximum payload exceeded" in log.read_text(errors="replace")

            await eventually(refused_in_the_server_log, message="the server's payload refusal")
            await agent.close()
            js = admin.jetstream()
            with pytest.raises(NotFoundError):
                await js.get_last_msg(subjects.STREAM_FACTS, subjects.account_snapshot(account))
            for identity in ("engine", "admin"):  # the limit is the agents' alone
                claims = jwt_claims(read_creds(secured.auth.creds(identity)).jwt)
                assert claims["nats"]["payload"] == -1
            claims = jwt_claims(read_creds(secured.auth.agent_creds(account)).jwt)
            assert claims["nats"]["payload"] == AGENT_MAX_PAYLOAD
        finally:
            await admin.close()
