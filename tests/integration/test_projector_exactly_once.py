"""Exactly once: `mtq projector run` SIGKILLed at random points of a 20,000-event log ends
with the same views as a rebuild from scratch (nothing lost, nothing applied twice)."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from msgspec import DecodeError

from bus import subjects
from bus.embedded import EmbeddedNatsServer
from projections.db import TABLES, Database, open_database
from projections.projector import RISK_FILTERS
from projections.views import loads
from tests.integration.engine_scenario import scenario_config, scripted_facts
from tests.integration.engine_support import load, running_engine, settled
from tests.integration.test_engine_crash import _publish
from tests.pg_support import postgres_server_url, postgres_url  # noqa: F401 - fixtures

pytestmark = [pytest.mark.nats, pytest.mark.slow, pytest.mark.postgres]

ACCOUNTS = 40
PER_ACCOUNT = 400  # 16,000 facts and their decisions
KILLS = 6
_KEYS = {
    "proj_tracking": "source",
    "proj_status": "account_id",
    "proj_positions": "account_id, identifier",
    "proj_reconciliation": "account_id, item_id",
    "proj_risk": "account_id",
    "proj_risk_events": "account_id, notification_id",
    "proj_equity": "account_id, minute",
    "proj_trades": "account_id, identifier",
    "proj_meta": "name",
    "proj_candles": "symbol, tf, account_id, start_msc",
    "proj_trade_days": "account_id, day, dim, key",
    "proj_equity_days": "account_id, day",
    "proj_signals": "signal_id, account_id",
}


def _projector(command: str, config: Path, url: str, db: str, log: Path) -> subprocess.Popen[bytes]:
    extra = ["--batch-size", "250"] if command == "run" else []
    return subprocess.Popen(
        [sys.executable, "-m", "mtq", "projector", command, "--config", str(config),
         "--nats-url", url, "--db", db, "--log-level", "ERROR", *extra],
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip


def _mt5_position(db: Database) -> int:
    rows = db.query("SELECT position FROM proj_tracking WHERE source = 'MT5'")
    return int(rows[0][0]) if rows else 0


def _risk_position(db: Database) -> int:
    rows = db.query("SELECT position FROM proj_tracking WHERE source = 'RISK'")
    return int(rows[0][0]) if rows else 0


def dump(db: Database) -> dict[str, list[Any]]:
    """Every row of every view, JSON documents decoded."""
    out: dict[str, list[Any]] = {}
    for table in TABLES:
        rows = db.query(f"SELECT * FROM {table} ORDER BY {_KEYS[table]}")
        out[table] = [tuple(_decoded(v) for v in row) for row in rows]
    return out


def _decoded(value: Any) -> Any:
    """A JSON document column decoded; any other text (a trade comment like `[tp 1.1]`) as is."""
    if not isinstance(value, str) or value[:1] not in "{[":
        return value
    try:
        return loads(value)
    except DecodeError:
        return value


@pytest.fixture(params=["sqlite", "postgres"])
def two_dbs(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'live.sqlite'}", f"sqlite:///{tmp_path / 'rebuilt.sqlite'}"
    live: str = request.getfixturevalue("postgres_url")
    rebuilt = f"sqlite:///{tmp_path / 'rebuilt.sqlite'}"  # views compare across backends too
    return live, rebuilt


async def test_projector_when_sigkilled_at_random_points_then_views_equal_a_rebuild(
    tmp_path: Path, fresh_nats_server: EmbeddedNatsServer, two_dbs: tuple[str, str]
) -> None:
    live_url, rebuilt_url = two_dbs
    facts = scripted_facts(ACCOUNTS, PER_ACCOUNT)
    config_path = scenario_config(tmp_path, ACCOUNTS)
    url = fresh_nats_server.url
    last_seq = await _publish(url, facts, per_second=None)
    async with running_engine(url, load(config_path)) as engine:
        await settled(engine, last_seq, timeout=180)
        info = await engine.nc.jetstream().stream_info(
            subjects.STREAM_RISK, subjects_filter=RISK_FILTERS[0]
        )
        decisions = sum((info.state.subjects or {}).values())
        last_risk = await engine.nc.jetstream().get_last_msg(subjects.STREAM_RISK, RISK_FILTERS[0])
        assert last_risk.seq is not None
        last_decision = last_risk.seq
    log = tmp_path / "projector.log"
    rng = random.Random(8)
    db = open_database(live_url)
    try:
        for _ in range(KILLS):
            target = min(last_seq - 1, _mt5_position(db) + rng.randint(300, last_seq // KILLS))
            proc = _projector("run", config_path, url, live_url, log)
            while _mt5_position(db) < target:
                assert proc.poll() is None, log.read_text()[-2000:]
                await asyncio.sleep(rng.uniform(0.0, 0.05))
            proc.send_signal(signal.SIGKILL)
            await asyncio.to_thread(proc.wait)
        assert _mt5_position(db) < last_seq, "the kills came too late to test anything"
        proc = _projector("run", config_path, url, live_url, log)
        try:
            deadline = time.monotonic() + 300
            while _mt5_position(db) < last_seq or _risk_position(db) < last_decision:
                assert proc.poll() is None, log.read_text()[-2000:]
                assert time.monotonic() < deadline, "the projector never caught up"
                await asyncio.sleep(0.1)
        finally:
            proc.send_signal(signal.SIGTERM)
            await asyncio.to_thread(proc.wait, 30)
        assert proc.returncode == 0, log.read_text()[-2000:]
        live = dump(db)
    finally:
        db.close()
    rebuild = _projector("rebuild", config_path, url, rebuilt_url, log)
    assert await asyncio.to_thread(rebuild.wait, 300) == 0, log.read_text()[-2000:]
    rebuilt_db = open_database(rebuilt_url)
    rebuilt = dump(rebuilt_db)
    rebuilt_db.close()

    status = {row[0]: row[1] for row in live["proj_status"]}
    assert len(status) == ACCOUNTS
    applied = sum(s["counts"]["facts"] + s["counts"]["decisions"] for s in status.values())
    assert applied == len(facts) + decisions >= 20_000
    assert live["proj_positions"]
    assert live["proj_risk_events"]
    for table in TABLES:
        assert live[table] == rebuilt[table], f"{table} differs"
