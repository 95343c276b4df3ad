"""The risk engine through `mtq up` and the `mtq risk` and `mtq audit` commands."""

from __future__ import annotations

import asyncio
import json
import re
import signal
from pathlib import Path
from typing import Any

import pytest

from bus import subjects
from bus.security.client import ClientAuth
from tests.e2e.cli import mtq, spawn_mtq
from tests.e2e.up_support import connect_admin, read_all, start_up
from tests.integration.engine_support import read_decisions
from tests.support import eventually_sync

pytestmark = [pytest.mark.e2e, pytest.mark.nats, pytest.mark.slow]

CONFIG = """
supervisor: {restart_initial_delay_s: 0.5, heartbeat_timeout_s: 10, health_check_interval_s: 0.2}
defaults:
  terminal:
    kind: simulator
    simulator:
      tick_interval_ms: 100
      strategy: {kind: random, open_probability: 0.3, close_probability: 0.02, max_positions: 3}
  agent: {poll_interval_ms: 50, heartbeat_interval_s: 0.5, account_snapshot_interval_s: 0.2}
  symbols: [{name: EURUSD}]
  risk:
    initial_capital: 100000
    daily_loss: {limit_percent: 5, timezone: Europe/Prague}
accounts:
  - id: brk-1
    terminal:
      simulator:
        seed: 11
        faults: [{kind: equity_drop, start_s: 4, duration_s: 600, drop_percent: 8}]
  - {id: calm-2, terminal: {simulator: {seed: 12}}}
"""
OTHER_LIMITS = CONFIG.replace("limit_percent: 5", "limit_percent: 9")


def _show(data: Path, account: str) -> dict[str, Any]:
    done = mtq("risk", "show", account, "--json", "--data", str(data))
    assert done.returncode == 0, done.stdout + done.stderr
    summary: dict[str, Any] = json.loads(done.stdout)
    return summary


def test_up_when_account_breaches_daily_loss_then_liquidated_halted_and_audit_identical(
    tmp_path: Path,
) -> None:
    config = tmp_path / "risk.yaml"
    config.write_text(CONFIG)
    data = tmp_path / "data"
    up = start_up(tmp_path, config, data)
    try:
        up.url()

        def halted_and_flat() -> dict[str, Any]:
            summary = _show(data, "brk-1")
            assert summary["trading_state"] == "HALTED", summary["trading_state"]
            assert summary["breaches"], "no breach recorded"
            assert summary["positions"] == [], summary["positions"]  # really closed
            return summary

        summary = eventually_sync(halted_and_flat, timeout=60, message="brk-1 liquidated")
        assert summary["holds"] == {"daily": "HALTED"}
        assert summary["breaches"][0]["rule"] == "daily"
        assert "liquidated" in up.text() or "LiquidationOrdered" in up.text()
        assert _show(data, "calm-2")["trading_state"] == "ACTIVE"

        refused = mtq("risk", "resume", "brk-1", "--reason", "try", "--data", str(data))
        assert refused.returncode == 2
        assert "only reset reopens it" in refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1

        below = mtq("risk", "reset", "brk-1", "--reason", "reviewed", "--actor", "alice",
                    "--data", str(data))  # fmt: skip
        assert below.returncode == 2, below.stdout + below.stderr
        assert "cannot reset" in below.stderr
        assert "beyond the daily floor" in below.stderr
        assert len(below.stderr.strip().splitlines()) == 1
        reset = mtq("risk", "reset", "brk-1", "--rebase", "--reason", "reviewed", "--actor",
                    "alice", "--data", str(data))  # fmt: skip
        assert reset.returncode == 0, reset.stderr
        assert "now ACTIVE" in reset.stdout
        after = _show(data, "brk-1")
        assert after["day"]["anchor_source"] == "rebased"

        def halted_again() -> dict[str, Any]:  # the broker still reports equity 8% down
            again = _show(data, "brk-1")
            assert (again["trading_state"], again["state_actor"]) == ("HALTED", "risk")
            return again

        eventually_sync(halted_again, timeout=60, message="brk-1 breached its rebased floor")
        admin = ClientAuth(creds_file=str(data / "auth" / "creds" / "admin.creds"))
        recorded = [d for d in read_decisions(up.url(), admin) if d.account_id == "brk-1"]
        (rebased,) = [d.body for d in recorded if d.type == "DayRebased"]
        (reopened,) = [d.body for d in recorded if d.type == "TradingStateChanged"
                       and d.body["reason"].startswith("reset:")]  # fmt: skip
        assert rebased["actor"] == reopened["actor"] == "admin"  # its identity, not --actor
        assert reopened["reason"] == "reset: reviewed (actor named by the caller: alice)"

        unknown = mtq("risk", "pause", "nobody", "--reason", "x", "--data", str(data))
        assert unknown.returncode == 2
        assert "unknown account 'nobody'" in unknown.stderr

        verify = mtq("audit", "verify", "--data", str(data), timeout=120)
        assert verify.returncode == 0, verify.stdout + verify.stderr
        assert verify.stdout.startswith("identical: ")
        assert " 2 accounts" in verify.stdout

        other = tmp_path / "other.yaml"
        other.write_text(OTHER_LIMITS)
        whatif = mtq("audit", "whatif", "--config", str(other), "--data", str(data),
                     timeout=120)  # fmt: skip
        assert whatif.returncode == 1, whatif.stdout + whatif.stderr
        assert "account brk-1:" in whatif.stdout
        recorded_only = [x for x in whatif.stdout.splitlines() if x.startswith("  - seq")]
        assert any("LiquidationOrdered" in x for x in recorded_only), whatif.stdout
    finally:
        assert up.stop() == 0, up.text()[-3000:]

    # Tamper with RISK while only its server runs: a forged copy of a decision, stored under
    # its version, shifts every later one; verify names the first that no longer matches.
    log = tmp_path / "serve.log"
    serve = spawn_mtq(
        "nats", "serve", "--data", str(data), "--nats-port", "0", "--no-provision", log=log
    )
    try:
        url = eventually_sync(lambda: _served_url(log), timeout=30, message="nats serve")
        version = asyncio.run(_forge_first_liquidation(url, data, "brk-1"))
        tampered = mtq("audit", "verify", "--data", str(data), timeout=120)
        assert tampered.returncode == 1, tampered.stdout + tampered.stderr
        lines = tampered.stdout.splitlines()
        assert lines[0] == f"first difference: account brk-1, decision {version + 1}", lines
        assert lines[1].startswith("  recorded: LiquidationOrdered "), lines
        assert "TAMPERED" in lines[1], lines
        assert lines[2].startswith("  replayed: "), lines
        assert "TAMPERED" not in lines[2], lines
    finally:
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(timeout=30) == 0, log.read_text()


def _served_url(log: Path) -> str:
    match = re.search(r"listening on (nats://\S+)", log.read_text())
    assert match
    return match.group(1)


async def _forge_first_liquidation(url: str, data: Path, account: str) -> int:
    """Store a copy of the account's first LiquidationOrdered, with another reason, under
    the same subject and event-store headers (RISK denies deletes: a forger can only add).
    Returns its version, which must not be the account's last."""
    nc = await connect_admin(url, data)
    try:
        events = await read_all(nc, f"{subjects.RISK_PREFIX}.events.>")
        mine = [m for m in events if json.loads(m.data).get("account_id") == account]
        orders = [m for m in mine if m.subject.endswith(".LiquidationOrdered")]
        assert orders, f"no LiquidationOrdered of {account} in RISK"
        original = orders[0]
        headers = {k: v for k, v in (original.headers or {}).items() if k.startswith("Es-")}
        version = int(headers["Es-Originator-Version"])
        assert any(int((m.headers or {})["Es-Originator-Version"]) > version for m in mine)
        state = json.loads(original.data)
        state["reason"] = "TAMPERED"
        await nc.jetstream().publish(original.subject, json.dumps(state).encode(), headers=headers)
        return version
    finally:
        await nc.close()
