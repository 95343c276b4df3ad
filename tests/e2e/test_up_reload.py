"""`mtq reload` against a live, secured `mtq up` (issue 19): an invalid config is refused
with file:line and the running one kept (by the engine, and by `mtq up` on a bare SIGHUP);
a valid one tightens a limit (LimitsChanged with the actor), starts the agent of an added
account with its own new identity and stops the removed one's agent gracefully."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.e2e.cli import mtq, spawn_mtq
from tests.e2e.up_support import CONFIG, Up, agent_pids, connect_admin, read_all, write_config
from tests.support import eventually, eventually_sync

pytestmark = [pytest.mark.e2e, pytest.mark.nats, pytest.mark.slow]


def _agents(data: Path, wanted: set[str]) -> dict[str, int] | None:
    found = agent_pids(data)
    return found if set(found) == wanted else None


async def test_reload_when_config_changes_then_limits_agents_follow_and_invalid_is_refused(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    config = write_config(tmp_path)
    log = tmp_path / "up.log"
    up = Up(spawn_mtq("up", "--config", str(config), "--data", str(data), "--nats-port", "0",
                      "--http", "127.0.0.1:0", log=log), log, data)  # fmt: skip
    try:
        url = up.url()
        first = eventually_sync(lambda: _agents(data, {"up-a", "up-b"}), timeout=90,
                                message="agents of up-a and up-b")  # fmt: skip
        eventually_sync(lambda: "http api: running" in up.text() or None, timeout=90,
                        message="mtq up started")  # fmt: skip
        config.write_text(CONFIG.replace("{id: up-a,", "{id: up-a, risk: {max_positions: 0},"))
        refused = await asyncio.to_thread(mtq, "reload", "--data", str(data))
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert "config rejected; the running one is kept" in refused.stderr, refused.stderr
        assert "mtq.yaml:" in refused.stderr, refused.stderr
        assert up.proc.poll() is None
        assert _agents(data, {"up-a", "up-b"}) == first  # children never read the bad file
        changed = CONFIG.replace("{id: up-a,", "{id: up-a, risk: {max_positions: 1},").replace(
            "  - {id: up-b, terminal: {simulator: {seed: 2}}}",
            "  - {id: up-c, terminal: {simulator: {seed: 3}}}",
        )
        config.write_text(changed)
        done = await asyncio.to_thread(mtq, "reload", "--data", str(data))
        assert done.returncode == 0, done.stdout + done.stderr
        assert "limits changed on up-a, up-c" in done.stdout, done.stdout
        assert "agents started: up-c; stopped: up-b" in done.stdout, done.stdout
        after = eventually_sync(lambda: _agents(data, {"up-a", "up-c"}), timeout=90,
                                message="agents of up-a and up-c")  # fmt: skip
        assert after is not None
        assert first is not None
        assert after["up-a"] == first["up-a"]  # left running
        nc = await connect_admin(url, data)
        try:
            changes = await eventually(
                lambda: _limits_changed(nc), timeout=30, message="LimitsChanged in RISK"
            )
        finally:
            await nc.close()
        assert changes == [("up-a", "admin", 1)]
    finally:
        assert up.stop() == 0, up.text()


async def _limits_changed(nc: object) -> list[tuple[str, str, int]] | None:
    import json

    found = []
    for msg in await read_all(nc, "risk.events.*.*.LimitsChanged"):  # type: ignore[arg-type]
        body = json.loads(msg.data)
        found.append((body["account_id"], body.get("actor"),
                      body["rules"]["position_limits"]["max_positions"]))  # fmt: skip
    return found or None
