"""`mtq nats streams|kv get|services|req` against a real nats-server, as subprocesses."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator

import pytest
from nats.aio.client import Client
from nats.micro import add_service
from nats.micro.request import Request
from nats.micro.service import Service, ServiceConfig

from bus import subjects
from bus.topology import ensure_topology

pytestmark = [pytest.mark.e2e, pytest.mark.nats]


async def _mtq(*args: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NATS_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mtq",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**env, "COLUMNS": "200"},
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@pytest.fixture
async def echo(nc: Client) -> AsyncIterator[Service]:
    async def handle(request: Request) -> None:
        body = json.loads(request.data or b"{}")
        if body.get("fail"):
            await request.respond_error("409", "refused on purpose")
            return
        await request.respond(json.dumps({"echo": body}).encode())

    service = await add_service(nc, ServiceConfig(name="mtq-echo-test", version="1.2.3"))
    await service.add_endpoint(name="echo", subject="mtq.test.echo", handler=handle)
    try:
        yield service
    finally:
        await service.stop()


async def test_streams_when_provisioned_then_each_listed_with_subjects(
    nc: Client, nats_url: str
) -> None:
    await ensure_topology(nc.jetstream())
    code, out, err = await _mtq("nats", "streams", "--json", "--nats-url", nats_url)
    assert code == 0, err
    names = {s["name"]: s for s in json.loads(out)["streams"]}
    assert {subjects.STREAM_FACTS, subjects.STREAM_RISK, subjects.STREAM_DLQ} <= set(names)
    assert names[subjects.STREAM_RISK]["subjects"] == list(subjects.RISK_SUBJECTS)
    code, table, err = await _mtq("nats", "streams", "--nats-url", nats_url)
    assert code == 0, err
    assert subjects.STREAM_FACTS in table


async def test_kv_get_when_key_present_then_value_else_one_line(nc: Client, nats_url: str) -> None:
    await ensure_topology(nc.jetstream())
    kv = await nc.jetstream().key_value(subjects.KV_STATUS)
    await kv.put("tools-acc", json.dumps({"account_id": "tools-acc", "n": 7}).encode())
    code, out, err = await _mtq("nats", "kv", "get", "tools-acc", "--nats-url", nats_url)
    assert code == 0, err
    assert json.loads(out) == {"account_id": "tools-acc", "n": 7}
    code, out, err = await _mtq("nats", "kv", "get", "nobody", "--nats-url", nats_url)
    assert code == 1
    assert err.strip().splitlines() == [
        f"error: no key 'nobody' in KV bucket '{subjects.KV_STATUS}'"
    ]


async def test_services_and_req_when_a_service_runs_then_listed_and_answered(
    echo: Service, nats_url: str
) -> None:
    code, out, err = await _mtq("nats", "services", "--json", "--nats-url", nats_url)
    assert code == 0, err
    found = [s for s in json.loads(out)["services"] if s["name"] == "mtq-echo-test"]
    assert len(found) == 1
    assert found[0]["version"] == "1.2.3"
    assert [e["subject"] for e in found[0]["endpoints"]] == ["mtq.test.echo"]
    code, out, err = await _mtq("nats", "req", "mtq.test.echo", '{"a": 1}', "--nats-url", nats_url)
    assert code == 0, err
    assert json.loads(out) == {"echo": {"a": 1}}
    code, out, err = await _mtq(
        "nats", "req", "mtq.test.echo", '{"fail": true}', "--nats-url", nats_url
    )
    assert code == 1
    assert "error 409: refused on purpose" in err
    code, _, err = await _mtq("nats", "req", "mtq.test.nobody", "", "--nats-url", nats_url)
    assert code == 1
    assert "nobody answers on mtq.test.nobody" in err
    code, _, err = await _mtq("nats", "req", "mtq.test.echo", "{bad", "--nats-url", nats_url)
    assert code == 2
    assert "not JSON" in err
