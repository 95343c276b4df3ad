"""The `mtq-agents` micro service over NATS, with fake agents sending real heartbeats."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client

from agents.supervisor import Supervisor
from config import load_config
from tests.integration.supervisor_support import fake_agents, pid_alive, provision, unique_id
from tests.support import eventually

pytestmark = pytest.mark.nats

CONFIG = """
supervisor:
  restart_initial_delay_s: 0.5
  stop_timeout_s: 3
  heartbeat_timeout_s: 3
  health_check_interval_s: 0.1
defaults:
  symbols:
    - {{name: EURUSD}}
  agent: {{heartbeat_interval_s: 0.2}}
accounts:
  - id: {a}
  - id: {b}
    risk: {{risk_percent: 7}}
  - id: {c}
    enabled: false
"""


async def ask(nc: Client, endpoint: str, body: bytes = b"") -> tuple[Any, dict[str, str]]:
    reply = await nc.request(f"mtq.agents.{endpoint}", body, timeout=10)
    data = json.loads(reply.data) if reply.data else None
    return data, dict(reply.headers or {})


@pytest.fixture
async def served(
    nc: Client, nats_url: str, tmp_path: Path
) -> AsyncIterator[tuple[Supervisor, list[str]]]:
    await provision(nc)
    ids = [unique_id("svc-a"), unique_id("svc-b"), unique_id("svc-c")]
    path = tmp_path / "mtq.yaml"
    path.write_text(CONFIG.format(a=ids[0], b=ids[1], c=ids[2]), encoding="utf-8")
    supervisor = Supervisor(
        load_config([path]),
        nc,
        config_paths=[path],
        nats_url=nats_url,
        data_dir=tmp_path,
        command_factory=fake_agents(nats_url),
    )
    await supervisor.start()
    try:
        yield supervisor, ids
    finally:
        await supervisor.stop()


async def test_list_when_agents_running_then_reports_state_health_and_heartbeat(
    nc: Client, served: tuple[Supervisor, list[str]]
) -> None:
    supervisor, (a, b, c) = served

    async def all_healthy() -> dict[str, Any]:
        data, _ = await ask(nc, "list", b"")
        rows = {row["account"]: row for row in data["accounts"]}
        assert rows[a]["health"] == rows[b]["health"] == "HEALTHY"
        return rows

    rows: dict[str, Any] = await eventually(all_healthy)
    assert set(rows) == {a, b, c}
    assert rows[a]["state"] == "RUNNING"
    assert rows[a]["pid"] == supervisor.runner(a).pid
    assert rows[a]["restart_count"] == 0
    assert rows[a]["next_restart_at"] is None
    beat = rows[a]["last_heartbeat"]
    assert beat["terminal_connected"] is True
    assert beat["breaker_state"] == "closed"
    assert beat["last_tick_age_s"] == {"EURUSD": 0.1}
    assert rows[c]["state"] == "CREATED"
    assert rows[c]["enabled"] is False
    assert rows[c]["pid"] is None
    assert rows[c]["health"] == "UNKNOWN"

    one, _ = await ask(nc, "list", json.dumps({"account": b}).encode())
    assert [row["account"] for row in one["accounts"]] == [b]


async def test_stop_start_restart_when_requested_then_process_follows(
    nc: Client, served: tuple[Supervisor, list[str]]
) -> None:
    supervisor, (a, _, c) = served
    body = json.dumps({"account": a}).encode()
    runner = supervisor.runner(a)
    await eventually(lambda: runner.state == "RUNNING")
    first = runner.pid
    assert first is not None

    stopped, _ = await ask(nc, "stop", body)
    assert stopped["accounts"][0]["state"] == "STOPPED"
    assert stopped["accounts"][0]["pid"] is None
    assert not pid_alive(first)

    started, _ = await ask(nc, "start", body)
    second = started["accounts"][0]["pid"]
    assert started["accounts"][0]["state"] in ("STARTING", "RUNNING")
    assert second not in (None, first)
    await eventually(lambda: runner.state == "RUNNING")

    restarted, _ = await ask(nc, "restart", body)
    third = restarted["accounts"][0]["pid"]
    assert third not in (None, second)
    assert not pid_alive(second)
    assert restarted["accounts"][0]["restart_count"] == 0  # requested restarts are not failures

    disabled, _ = await ask(nc, "start", json.dumps({"account": c}).encode())
    assert disabled["accounts"][0]["pid"] is not None  # an explicit start runs it anyway


async def test_validate_when_asked_then_returns_errors_and_warnings_per_account(
    nc: Client, served: tuple[Supervisor, list[str]]
) -> None:
    _, (a, b, _) = served
    everything, _ = await ask(nc, "validate")
    assert everything["valid"] is True
    assert any("risk_percent" in w["path"] for w in everything["warnings"])

    mine, _ = await ask(nc, "validate", json.dumps({"account": b}).encode())
    assert mine["account"] == b
    assert any("risk_percent" in w["path"] for w in mine["warnings"])

    other, _ = await ask(nc, "validate", json.dumps({"account": a}).encode())
    assert not any("risk_percent" in w["path"] for w in other["warnings"])


@pytest.mark.parametrize("endpoint", ["start", "stop", "restart", "list", "validate"])
async def test_endpoint_when_account_unknown_then_404_error(
    nc: Client, served: tuple[Supervisor, list[str]], endpoint: str
) -> None:
    data, headers = await ask(nc, endpoint, b'{"account": "no-such-account"}')
    assert headers["Nats-Service-Error-Code"] == "404"
    assert "no-such-account" in headers["Nats-Service-Error"]
    assert data["error"]["code"] == 404


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"{not json", "not JSON"),
        (b"[1, 2]", "JSON object"),
        (b'{"account": 7}', "account id"),
        (b'{"account": "a.b"}', "account id"),
        (b'{"acount": "x"}', "unknown request field"),
    ],
)
async def test_endpoint_when_body_bad_then_400_and_service_keeps_serving(
    nc: Client, served: tuple[Supervisor, list[str]], body: bytes, fragment: str
) -> None:
    data, headers = await ask(nc, "stop", body)
    assert headers["Nats-Service-Error-Code"] == "400"
    assert fragment in headers["Nats-Service-Error"]
    assert data["error"]["code"] == 400
    listed, headers = await ask(nc, "list")
    assert "Nats-Service-Error-Code" not in headers
    assert len(listed["accounts"]) == 3


async def test_service_when_discovered_then_named_mtq_agents_with_five_endpoints(
    nc: Client, served: tuple[Supervisor, list[str]]
) -> None:
    reply = await nc.request("$SRV.INFO.mtq-agents", b"", timeout=5)
    info = json.loads(reply.data)
    assert info["name"] == "mtq-agents"
    subjects = sorted(e["subject"] for e in info["endpoints"])
    assert subjects == [
        f"mtq.agents.{n}" for n in sorted(["start", "stop", "restart", "list", "validate"])
    ]
