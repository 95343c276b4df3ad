"""Control endpoints through NATS micro services: tokens, the actor, errors mapped to HTTP.

The `mtq-agents` and `mtq-risk` services here are stand-ins registered by the test on a
nats-server of this module's own, answering as the real ones do (JSON, micro error headers),
so every status the API maps (400, 404, 409, 503) can be provoked on purpose. The real
services answer the same requests in tests/e2e/test_dashboard_browser.py.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.client import Client
from nats.micro import add_service
from nats.micro.request import Request
from nats.micro.service import Service, ServiceConfig

from bus import subjects
from bus.embedded import EmbeddedNatsServer
from bus.topology import ensure_topology
from config.models import ApiTokenConfig
from mtq.http import ApiSettings
from mtq.http.auth import hash_token
from tests.integration.test_api_support import RunningApi, running_api, seed_views
from tests.support import eventually

pytestmark = pytest.mark.nats

TOKEN = "tok-alice"
WORKERS: dict[str, dict[str, Any]] = {
    "acc-a": {
        "account": "acc-a",
        "enabled": True,
        "state": "RUNNING",
        "pid": 11,
        "restart_count": 0,
        "health": "HEALTHY",
    },
    "acc-b": {
        "account": "acc-b",
        "enabled": True,
        "state": "STOPPED",
        "pid": None,
        "restart_count": 1,
        "health": "UNKNOWN",
    },
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedNatsServer]:
    with EmbeddedNatsServer(data_dir=tmp_path_factory.mktemp("nats-control")) as running:
        yield running


class FakeServices:
    """`mtq-agents` and `mtq-risk` stand-ins that record what they were asked."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.services: list[Service] = []

    async def _error(self, request: Request, code: int, message: str) -> None:
        body = json.dumps({"code": code, "message": message}).encode()
        await request.respond_error(str(code), message, data=body)

    def agents(self, name: str) -> Any:
        async def handle(request: Request) -> None:
            body = json.loads(request.data or b"{}")
            self.requests.append((f"agents.{name}", body))
            account = body.get("account")
            if account == "boom":
                await self._error(request, 400, "account must be an account id")
                return
            if account is not None and account not in WORKERS:
                await self._error(request, 404, f"unknown account {account!r}")
                return
            picked = [WORKERS[account]] if account else list(WORKERS.values())
            if name == "validate":
                reply: Any = {"account": account, "valid": True, "errors": [], "warnings": []}
            else:
                reply = {"accounts": picked}
            await request.respond(json.dumps(reply).encode())

        return handle

    async def control(self, request: Request) -> None:
        body = json.loads(request.data)
        self.requests.append((request.subject, body))
        if body["account_id"] not in WORKERS:
            await self._error(request, 404, f"unknown account {body['account_id']!r}")
            return
        if body["action"] == "resume":
            await self._error(request, 409, "cannot resume: held HALTED by daily")
            return
        reply = {
            "type": "RiskControlReply",
            "account_id": body["account_id"],
            "trading_state": "REDUCING",
            "changed": True,
            "command_id": "c-9",
        }
        await request.respond(json.dumps(reply).encode())

    async def check(self, request: Request) -> None:
        body = json.loads(request.data)
        self.requests.append((request.subject, body))
        reply = {
            "account_id": body["account_id"],
            "approved": body["volume"] <= 1,
            "reasons": [] if body["volume"] <= 1 else ["max_lots"],
            "limits": {},
            "trading_state": "ACTIVE",
            "decision": "acc-a/7",
            "client_order_id": body.get("client_order_id", ""),
        }
        await request.respond(json.dumps(reply).encode())

    async def start(self, nc: Client) -> None:
        agents = await add_service(nc, ServiceConfig(name="mtq-agents", version="1.0.0"))
        group = agents.add_group(name="mtq.agents")
        for name in ("start", "stop", "restart", "list", "validate"):
            await group.add_endpoint(name=name, handler=self.agents(name))
        risk = await add_service(nc, ServiceConfig(name="mtq-risk", version="1.0.0"))
        await risk.add_endpoint(
            name="control", subject=subjects.RISK_CONTROL_ANY, handler=self.control
        )
        await risk.add_endpoint(name="check", subject=subjects.RISK_CHECK_ANY, handler=self.check)
        self.services = [agents, risk]

    async def stop(self) -> None:
        for service in self.services:
            await service.stop()
        self.services = []


@pytest.fixture
async def fakes(server: EmbeddedNatsServer) -> AsyncIterator[FakeServices]:
    nc = await nats.connect(server.url)
    await ensure_topology(nc.jetstream())
    found = FakeServices()
    await found.start(nc)
    try:
        yield found
    finally:
        await found.stop()
        await nc.close()


def _settings(tmp_path: Path, server: EmbeddedNatsServer, **given: Any) -> ApiSettings:
    url = f"sqlite:///{tmp_path / 'views.sqlite'}"
    seeder = seed_views(url, ["acc-a", "acc-b"])
    defaults: dict[str, Any] = {
        "tokens": (ApiTokenConfig(name="alice", sha256=hash_token(TOKEN)),),
        "request_timeout_s": 1.0,
    }
    return ApiSettings(
        db_url=url, accounts=seeder.settings, nats_url=server.url, **(defaults | given)
    )


@pytest.fixture
async def api(
    tmp_path: Path, server: EmbeddedNatsServer, fakes: FakeServices
) -> AsyncIterator[RunningApi]:
    async with running_api(_settings(tmp_path, server)) as running:
        await _connected(running)
        yield running


async def _connected(api: RunningApi) -> None:
    await eventually(lambda: api.state.nc is not None, timeout=10)


async def call(
    api: RunningApi, method: str, path: str, token: str | None = TOKEN, body: Any = None
) -> Any:
    async with api.client(token) as client:
        return await client.request(method, path, json=body)


async def test_workers_when_listed_then_every_worker(api: RunningApi) -> None:
    r = await call(api, "GET", "/api/workers")
    assert r.status_code == 200, r.text
    assert [w["account"] for w in r.json()["accounts"]] == ["acc-a", "acc-b"]
    one = await call(api, "GET", "/api/workers/acc-a")
    assert one.status_code == 200
    assert one.json()["account"]["state"] == "RUNNING"
    assert "RUNNING" in one.json()["message"]


async def test_worker_start_when_stopped_then_201_and_when_running_then_409(
    api: RunningApi, fakes: FakeServices
) -> None:
    started = await call(api, "POST", "/api/workers/acc-b/start")
    assert started.status_code == 201, started.text
    assert started.json()["message"] == "worker acc-b started"
    assert ("agents.start", {"account": "acc-b"}) in fakes.requests
    again = await call(api, "POST", "/api/workers/acc-a/start")
    assert again.status_code == 409
    assert "already RUNNING" in again.json()["message"]


async def test_worker_stop_when_running_then_200_and_when_stopped_then_409(
    api: RunningApi,
) -> None:
    stopped = await call(api, "POST", "/api/workers/acc-a/stop")
    assert stopped.status_code == 200
    assert stopped.json()["account"]["account"] == "acc-a"
    again = await call(api, "POST", "/api/workers/acc-b/stop")
    assert again.status_code == 409


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("POST", "/api/workers/acc-a/restart", 200),
        ("POST", "/api/workers/start-all", 200),
        ("POST", "/api/workers/stop-all", 200),
        ("GET", "/api/workers/acc-a/validate", 200),
        ("GET", "/api/workers/validate-all", 200),
        ("GET", "/api/workers/nope", 404),
        ("POST", "/api/workers/nope/restart", 404),
        ("GET", "/api/workers/nope/validate", 404),
        ("POST", "/api/workers/boom/restart", 400),
    ],
)
async def test_worker_paths_when_called_then_status(
    api: RunningApi, method: str, path: str, status: int
) -> None:
    r = await call(api, method, path)
    assert r.status_code == status, r.text
    assert r.json()["message"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/workers"),
        ("POST", "/api/workers/acc-a/start"),
        ("POST", "/accounts/acc-a/pause"),
        ("POST", "/accounts/acc-a/orders/check"),
    ],
)
async def test_control_when_token_missing_or_wrong_then_401(
    api: RunningApi, method: str, path: str
) -> None:
    missing = await call(api, method, path, token=None, body={"reason": "x"})
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    wrong = await call(api, method, path, token="tok-mallory", body={"reason": "x"})
    assert wrong.status_code == 401
    assert TOKEN not in wrong.text


async def test_control_when_no_token_configured_then_403_saying_how(
    tmp_path: Path, server: EmbeddedNatsServer, fakes: FakeServices
) -> None:
    async with running_api(_settings(tmp_path, server, tokens=())) as api:
        r = await call(api, "POST", "/accounts/acc-a/halt", body={"reason": "x"})
        assert r.status_code == 403
        assert "MTQ_API_TOKENS" in r.json()["message"]
        assert "api: {tokens:" in r.json()["message"]


async def test_control_when_tokens_from_env_then_name_is_actor(
    tmp_path: Path, server: EmbeddedNatsServer, fakes: FakeServices
) -> None:
    settings = _settings(tmp_path, server, tokens=(), tokens_env="bob:tok-bob")
    async with running_api(settings) as api:
        await _connected(api)
        r = await call(
            api, "POST", "/accounts/acc-a/pause", token="tok-bob", body={"reason": "news"}
        )
        assert r.status_code == 200, r.text
        assert r.json()["actor"] == "api:bob"
    assert (
        "mtq.risk.control.api",
        {"account_id": "acc-a", "action": "pause", "reason": "news", "actor": "bob"},
    ) in fakes.requests


@pytest.mark.parametrize("action", ["pause", "halt", "reset"])
async def test_risk_control_when_allowed_then_recorded_with_the_token_name(
    api: RunningApi, fakes: FakeServices, action: str
) -> None:
    r = await call(api, "POST", f"/accounts/acc-a/{action}", body={"reason": "drill"})
    assert r.status_code == 200, r.text
    assert r.json() == {
        "message": f"{action}: trading state REDUCING (changed)",
        "account_id": "acc-a",
        "trading_state": "REDUCING",
        "changed": True,
        "command_id": "c-9",
        "actor": "api:alice",
    }
    assert fakes.requests[-1] == (
        "mtq.risk.control.api",
        {"account_id": "acc-a", "action": action, "reason": "drill", "actor": "alice"},
    )


async def test_reset_when_rebase_then_the_flag_reaches_the_engine(
    api: RunningApi, fakes: FakeServices
) -> None:
    r = await call(api, "POST", "/accounts/acc-a/reset", body={"reason": "new day", "rebase": True})
    assert r.status_code == 200, r.text
    assert fakes.requests[-1] == (
        "mtq.risk.control.api",
        {"account_id": "acc-a", "action": "reset", "reason": "new day", "actor": "alice",
         "rebase": True},
    )  # fmt: skip


async def test_risk_control_when_state_refuses_then_409(api: RunningApi) -> None:
    r = await call(api, "POST", "/accounts/acc-a/resume", body={"reason": "ok"})
    assert r.status_code == 409
    assert r.json()["message"] == "cannot resume: held HALTED by daily"


async def test_risk_control_when_unknown_account_then_404(api: RunningApi) -> None:
    r = await call(api, "POST", "/accounts/zzz/pause", body={"reason": "x"})
    assert r.status_code == 404


async def test_risk_control_when_reason_missing_then_422_naming_it(api: RunningApi) -> None:
    r = await call(api, "POST", "/accounts/acc-a/pause", body={})
    assert r.status_code == 422
    assert r.json()["message"].startswith("body.reason")


async def test_order_check_when_asked_then_the_engine_answer(
    api: RunningApi, fakes: FakeServices
) -> None:
    order = {
        "symbol": "EURUSD",
        "side": "buy",
        "volume": 0.1,
        "price": 1.085,
        "sl": 1.08,
        "client_order_id": "s1-1",
    }
    r = await call(api, "POST", "/accounts/acc-a/orders/check", body=order)
    assert r.status_code == 200, r.text
    assert r.json()["approved"] is True
    assert r.json()["client_order_id"] == "s1-1"
    assert fakes.requests[-1][0] == "mtq.risk.check.acc-a"
    assert fakes.requests[-1][1]["account_id"] == "acc-a"
    big = await call(api, "POST", "/accounts/acc-a/orders/check", body=order | {"volume": 5})
    assert big.json()["approved"] is False
    bad = await call(api, "POST", "/accounts/acc-a/orders/check", body=order | {"side": "up"})
    assert bad.status_code == 422
    assert bad.json()["message"].startswith("body.side")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/workers", None),
        ("POST", "/api/workers/acc-a/restart", None),
        ("GET", "/api/workers/validate-all", None),
        ("POST", "/accounts/acc-a/halt", {"reason": "x"}),
        (
            "POST",
            "/accounts/acc-a/orders/check",
            {"symbol": "EURUSD", "side": "buy", "volume": 0.1, "price": 1.0},
        ),
    ],
)
async def test_control_when_services_down_then_503(
    api: RunningApi, fakes: FakeServices, method: str, path: str, body: Any
) -> None:
    await fakes.stop()
    r = await call(api, method, path, body=body)
    assert r.status_code == 503, r.text
    assert "is not running" in r.json()["message"] or "did not answer" in r.json()["message"]


async def test_control_when_nats_absent_then_503(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'views.sqlite'}"
    seeder = seed_views(url, ["acc-a"])
    settings = ApiSettings(db_url=url, accounts=seeder.settings, tokens_env="alice:" + TOKEN)
    async with running_api(settings) as api:
        r = await call(api, "GET", "/api/workers")
        assert r.status_code == 503
        assert "NATS is not connected" in r.json()["message"]


async def test_ready_when_nats_and_views_then_ready_with_lag(api: RunningApi) -> None:
    async with api.client() as client:
        r = await client.get("/ready")
    body = r.json()
    assert body["nats_connected"] is True
    assert body["views"] is True
    assert set(body["lag"]) == {"mt5", "risk"}
    assert body["lag"]["mt5"] == 0
