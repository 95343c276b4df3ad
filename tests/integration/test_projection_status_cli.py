"""`mtq status` from the status view: plain aligned lines when piped, JSON for tools."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bus.embedded import EmbeddedNatsServer
from bus.topology import ensure_topology
from tests.integration.engine_support import FactFeed, connect_js, load, write_config
from tests.integration.test_projector import ACCOUNTS, publish_agent
from tests.integration.test_supervisor_cli import mtq
from tests.pg_support import caught_up, running_projector

pytestmark = [pytest.mark.nats, pytest.mark.slow]


async def test_status_when_only_the_projector_answers_then_rows_from_the_status_view(
    fresh_nats_server: EmbeddedNatsServer, tmp_path: Path
) -> None:
    url = fresh_nats_server.url
    nc, js = await connect_js(url)
    await ensure_topology(js)
    feed = FactFeed(js)
    now = datetime.now(UTC)
    await publish_agent(feed, "acc-1", now, connected=True)
    await feed.snapshot("acc-1", 100_000, 98_765.43, at=now)
    config = load(write_config(tmp_path, ACCOUNTS))
    try:
        async with running_projector(url, config, f"sqlite:///{tmp_path / 'v.sqlite'}") as proc:
            await caught_up(proc)
            code, out, err = await mtq("status", "--nats-url", url, env={"COLUMNS": "40"})
            assert code == 0, err
            header, line = out.splitlines()  # piped: never wrapped, one line per account
            assert header.split()[:3] == ["account", "state", "health"]
            assert line.split()[:3] == ["acc-1", "RUNNING", "HEALTHY"]
            assert line.index("RUNNING") == header.index("state")
            assert "98,765.43 USD" in line
            assert "ACTIVE" in line
            code, out, _ = await mtq("status", "acc-1", "--json", "--nats-url", url)
            assert code == 0
            shown = json.loads(out)
            assert set(shown) == {"accounts"}
            [row] = shown["accounts"]
            assert row["account"] == "acc-1"
            assert row["equity"] == 98_765.43
            assert row["trading"]["state"] == "ACTIVE"
            code, _, err = await mtq("status", "nobody", "--nats-url", url)
            assert code == 1
            assert "did not answer" in err
    finally:
        await nc.close()
