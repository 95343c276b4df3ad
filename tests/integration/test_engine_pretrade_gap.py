"""`max_gap_pips` at pre-trade over a real nats-server: the previous tick comes from the ticks
stream and both ticks are recorded with the decision (issue 16 bug 11)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest
from nats.aio.client import Client

from bus import subjects
from bus.codec import encode
from bus.schemas.risk import RiskCheckReply, RiskCheckRequest
from engine.audit_run import run_verify
from engine.store import open_store
from tests.integration.engine_support import (
    FactFeed,
    load,
    read_decisions,
    running_engine,
    settled,
)

pytestmark = pytest.mark.nats

CONFIG = """\
defaults:
  symbols:
    - {name: EURUSD, digits: 5, contract_size: 100000, max_gap_pips: 20}
    - {name: GBPUSD, digits: 5, contract_size: 100000}
accounts:
  - id: gap-1
    risk:
      initial_capital: 100000
"""


async def _check(nc: Client, symbol: str, order_id: str) -> RiskCheckReply:
    request = RiskCheckRequest(
        account_id="gap-1",
        symbol=symbol,
        side="buy",
        volume=0.1,
        price=1.1,
        client_order_id=order_id,
    )
    reply = await nc.request(subjects.risk_check(request.account_id), encode(request), timeout=5)
    assert not (reply.headers or {}).get("Nats-Service-Error-Code"), reply.headers
    return msgspec.json.decode(reply.data, type=RiskCheckReply)


async def test_pretrade_when_last_tick_gapped_then_denied_and_both_ticks_recorded(
    engine_bus: tuple[str, Client, FactFeed], tmp_path: Path
) -> None:
    url, nc, feed = engine_bus
    path = tmp_path / "gap.yaml"
    path.write_text(CONFIG)
    async with running_engine(url, load(path)) as process:
        await settled(process, await feed.snapshot("gap-1", 100_000, 100_000))
        now = datetime.now(UTC)
        await feed.tick("gap-1", "EURUSD", 1.10000, 1.10010, now)
        alone = await _check(nc, "EURUSD", "first")
        assert "no previous tick of EURUSD to judge max_gap_pips 20" in alone.reasons
        await feed.tick("gap-1", "GBPUSD", 1.30000, 1.30010, now)  # another symbol between
        await feed.tick("gap-1", "EURUSD", 1.10250, 1.10260, now + timedelta(seconds=1))
        gapped = await _check(nc, "EURUSD", "gapped")
        assert not gapped.approved
        assert "gap 25.00 pips > max_gap_pips 20 (bid 1.1 -> 1.1025)" in gapped.reasons
        await feed.tick("gap-1", "EURUSD", 1.10260, 1.10270, now + timedelta(seconds=2))
        calm = await _check(nc, "EURUSD", "calm")
        assert calm.approved, calm.reasons
        other = await _check(nc, "GBPUSD", "other")
        assert other.approved, other.reasons
    denied = [d.body for d in read_decisions(url) if d.type == "OrderDenied"]
    recorded = next(b for b in denied if b["request"]["client_order_id"] == "gapped")
    assert recorded["market"]["previous_bid"] == 1.1
    assert recorded["market"]["bid"] == 1.1025
    approved = [d.body for d in read_decisions(url) if d.type == "OrderApproved"]
    assert (
        "previous_bid"
        not in next(b for b in approved if b["request"]["client_order_id"] == "other")["market"]
    )
    result = await run_verify(nc, open_store(url))
    assert result.identical, result.summary()
    assert result.decisions == len(read_decisions(url))
