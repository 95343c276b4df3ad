"""The demo's traders check with mtq.risk.check before opening: reconciliation shows every
status (real agent and simulator, engine and projector on a real nats-server)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from agents.harness import simulator_account, start_agent
from agents.terminal.simulator.settings import StrategySpec
from bus.embedded import EmbeddedNatsServer
from bus.schemas.query import ReconciliationQuery, RiskQuery
from bus.topology import ensure_topology
from projections import queries
from projections.db import open_database
from projections.settings import settings_for
from tests.integration.agent_support import simulator
from tests.integration.engine_support import connect_js, load, running_engine, write_config
from tests.pg_support import running_projector
from tests.support import eventually

pytestmark = [pytest.mark.nats, pytest.mark.slow]

MAGIC = 424242
ACCOUNT = f"""\
  - id: demo-1
    symbols:
      - {{name: EURUSD, digits: 5, contract_size: 100000, max_spread_pips: 3}}
    terminal: {{simulator: {{seed: 5, strategy: {{magic: {MAGIC}, risk_check: true}}}}}}
    risk:
      initial_capital: 10000
      max_positions: 10
      max_concurrent_trades: 10
      daily_loss: {{limit_percent: 50}}
      max_loss: {{kind: static, limit_percent: 60}}
      reconciliation: {{fill_window_seconds: 2}}
"""
EVERY_KIND = {
    "matched": {"matched"},
    "divergent": {"slipped", "partial"},
    "manual": {"manual"},
    "missing": {"not_executed", "closed_by_broker"},
}
"""kind -> the statuses (any one) that show it"""


async def test_demo_when_traders_check_before_opening_then_every_reconciliation_status(
    fresh_nats_server: EmbeddedNatsServer, tmp_path: Path
) -> None:
    url = fresh_nats_server.url
    nc, js = await connect_js(url)
    await ensure_topology(js)
    await nc.close()
    config = load(write_config(tmp_path, ACCOUNT))
    settings = settings_for(config)
    db_url = f"sqlite:///{tmp_path / 'views.sqlite'}"
    strategy = StrategySpec(kind="random", open_probability=0.15, close_probability=0.01,
                            max_positions=8, volume_choices=(0.01, 0.1), sl_pips=4.0,
                            tp_pips=4.0, magic=MAGIC, risk_check=True)  # fmt: skip
    terminal = simulator(strategy=strategy, seed=5)
    account = simulator_account(
        "demo-1", agent={"poll_interval_ms": 50, "heartbeat_interval_s": 0.5,
                         "account_snapshot_interval_s": 0.5},
    )  # fmt: skip
    async with running_engine(url, config), running_projector(url, config, db_url):
        agent = start_agent(account, terminal, nats_url=url, data_dir=tmp_path / "agent")
        db = await asyncio.to_thread(open_database, db_url)
        seen: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
        """status -> (the first item that had it, the history entry it had it in)"""

        def every_status() -> bool:
            items = queries.reconciliation(db, ReconciliationQuery(account="demo-1"), settings)
            for item in items:
                for entry in item["history"]:
                    seen.setdefault(entry["status"], (item, entry))
            missing = {k for k, statuses in EVERY_KIND.items() if not statuses & set(seen)}
            assert not missing, f"not yet: {sorted(missing)}; seen {sorted(seen)}"
            return True

        try:
            await eventually(every_status, timeout=90, interval=0.5)
            risk, _ = queries.risk(db, RiskQuery(account="demo-1"))
        finally:
            await agent.close()
            db.close()

    assert risk[0]["counts"]["approved"] >= 3
    matched, _ = seen["matched"]
    assert matched["intent"]["client_order_id"].startswith("sim-")
    assert matched["position"]["comment"] == matched["intent"]["client_order_id"]
    _, divergent = seen.get("slipped") or seen["partial"]
    assert {r["reason"] for r in divergent["reasons"]} <= {"slippage", "volume", "sl", "tp"}
    manual, unmatched = seen["manual"]
    assert unmatched["reasons"][0]["reason"] == "manual"
    assert manual["position"]["reason"] in {"client", "mobile", "web"}
    _, missing = seen.get("not_executed") or seen["closed_by_broker"]
    assert missing["reasons"][0]["reason"] in {"never_filled", "closed_by_broker"}
