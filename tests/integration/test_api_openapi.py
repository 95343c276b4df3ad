"""The committed OpenAPI document is current, and schemathesis finds no server error.

Schemathesis (property-based, from PyPI) generates requests for every operation in
`/openapi.json` and runs them against a live app over seeded views on a nats-server of
this module's own, checking that no answer is a 5xx and that every answer matches the
documented schema. The event stream never ends, so it is left out.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import nats
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from bus.embedded import EmbeddedNatsServer
from bus.topology import ensure_topology
from config.models import ApiTokenConfig
from mtq.http import ApiSettings, create_app
from mtq.http.auth import hash_token
from mtq.http.openapi import COMMITTED, openapi_document, render
from tests.integration.test_api_support import free_port, seed_views

pytestmark = pytest.mark.nats


def test_openapi_when_committed_then_current() -> None:
    committed = COMMITTED.read_text(encoding="utf-8")
    assert committed == render(openapi_document()), (
        "mtq/http/openapi.json is stale: run `.venv/bin/python -m mtq.http.openapi`"
    )


def test_openapi_when_read_then_worker_paths_as_scripts_use_them() -> None:
    paths = openapi_document()["paths"]
    for path, method in [
        ("/api/workers/{account_id}/start", "post"),
        ("/api/workers/{account_id}/stop", "post"),
        ("/api/workers/{account_id}/restart", "post"),
        ("/api/workers/{account_id}", "get"),
        ("/api/workers", "get"),
        ("/api/workers/start-all", "post"),
        ("/api/workers/stop-all", "post"),
        ("/api/workers/{account_id}/validate", "get"),
        ("/api/workers/validate-all", "get"),
    ]:
        assert method in paths[path], path
    status = paths["/accounts/{account_id}"]["get"]["responses"]["200"]["content"]
    assert status["application/json"]["schema"] == {"$ref": "#/components/schemas/AccountStatus"}


async def _provision(url: str) -> None:
    nc = await nats.connect(url)
    try:
        await ensure_topology(nc.jetstream())
    finally:
        await nc.close()


class _Thread(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # not the main thread
        return None


@pytest.fixture(scope="module")
def live_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("openapi")
    with EmbeddedNatsServer(data_dir=tmp / "nats") as nats_server:
        asyncio.run(_provision(nats_server.url))
        db_url = f"sqlite:///{tmp / 'views.sqlite'}"
        seeder = seed_views(db_url, ["acc-a", "acc-b"])
        api_settings = ApiSettings(
            db_url=db_url,
            accounts=seeder.settings,
            nats_url=nats_server.url,
            tokens=(ApiTokenConfig(name="fuzz", sha256=hash_token("fuzz-token")),),
            request_timeout_s=0.5,
            ready_max_lag=10**9,
        )
        port = free_port()
        server = _Thread(
            uvicorn.Config(
                create_app(api_settings), host="127.0.0.1", port=port, log_level="warning"
            )
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        for _ in range(500):
            if server.started:
                break
            asyncio.run(asyncio.sleep(0.02))
        yield f"http://127.0.0.1:{port}"
        server.should_exit = True
        thread.join(20)


schema = schemathesis.openapi.from_dict(openapi_document())


@pytest.mark.slow
def test_api_when_fuzzed_then_no_server_error(live_url: str) -> None:
    """Every operation, 15 generated requests each: no 5xx, every answer as documented.

    Control answers 401 here (no token is sent): with one it would ask NATS services that
    this module does not run, and their documented 503 is what test_api_control covers.
    """
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    operations = [op for op in operations if op.path != "/events/stream"]
    assert len(operations) >= 25
    statuses: list[int] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=15, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def fuzz(case: Any) -> None:
            response = case.call(base_url=live_url, timeout=10)
            statuses.append(response.status_code)
            case.validate_response(
                response, checks=[not_a_server_error, response_schema_conformance]
            )

        fuzz()
    assert len(statuses) > 10 * len(operations)
    assert {200, 401, 404, 422} <= set(statuses)
