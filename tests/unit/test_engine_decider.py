"""The engine's decider, commands and commit pipeline, without NATS (fakes and the POPO store)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError, OperationalError, Tracking

from bus import subjects
from bus.codec import encode
from bus.schemas import AccountSnapshot, AgentHeartbeat, CloseAll, PositionOpened, SetTradingState
from domain import FactRef
from engine.commands import build_command
from engine.decider import Applied, Decider, Rejected, Skipped
from engine.pipeline import CommitPipeline, EngineFenced
from engine.store import UPSTREAM, RiskStore, plain_mapper
from tests.unit.test_domain_support import rules

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def snapshot(account_id: str, equity: float, at: datetime) -> tuple[str, bytes]:
    fact = AccountSnapshot(
        account_id=account_id, login=1, balance=100_000.0, equity=equity, margin=0.0,
        margin_free=equity, margin_level=0.0, profit=equity - 100_000, currency="USD",
        server="s", time=at,
    )  # fmt: skip
    return subjects.account_snapshot(account_id), encode(fact)


def decider_with(*accounts: str) -> Decider:
    decider = Decider()
    for account_id in accounts:
        decider.configure(account_id, rules(), FactRef(0, T0))
    decider.collect()
    return decider


def test_decider_when_breach_then_applied_with_commands_and_events() -> None:
    decider = decider_with("a-1")
    decider.decide(1, *snapshot("a-1", 100_000, T0))
    outcome = decider.decide(2, *snapshot("a-1", 94_000, T0 + timedelta(minutes=1)))
    assert isinstance(outcome, Applied)
    names = [type(e).__name__ for e in outcome.events]
    assert "LiquidationOrdered" in names
    assert "TradingStateChanged" in names
    specs = [decider.accounts["a-1"].outstanding_commands[c] for c in outcome.new_commands]
    assert [s["kind"] for s in specs] == ["close_all", "set_trading_state"]
    versions = {type(e).__name__: e.originator_version for e in outcome.events}
    assert outcome.new_commands == (  # <account>-<version of the ordering decision>
        f"a-1-{versions['LiquidationOrdered']}",
        f"a-1-{versions['TradingStateChanged']}",
    )
    assert decider.pending_count == len(decider.collect())
    assert decider.pending_count == 0
    assert decider.last_time == T0 + timedelta(minutes=1)


def test_decider_when_fact_not_for_risk_then_skipped_before_decoding() -> None:
    decider = decider_with("a-1")
    assert isinstance(decider.decide(1, subjects.tick("a-1", "EURUSD"), b"not json"), Skipped)
    heartbeat = subjects.health("a-1")  # heartbeats tell the time (stale feed): decoded
    assert isinstance(decider.decide(1, heartbeat, b"not even json"), Rejected)
    beat = AgentHeartbeat(account_id="a-1", agent_id="x", pid=1, terminal_connected=True,
                          breaker_state="closed", terminal_latency_ms=1.0, time=T0)  # fmt: skip
    assert isinstance(decider.decide(2, heartbeat, encode(beat)), Skipped)
    assert decider.last_seq == 2


@pytest.mark.parametrize(
    ("subject", "data", "kind"),
    [
        ("mt5.nobody.account", snapshot("nobody", 1.0, T0)[1], "unknown_account"),
        ("mt5.a-1.account", b'{"type": "AccountSnapshot"}', "decode"),
        ("mt5.a-1.account", snapshot("a-2", 1.0, T0)[1], "decode"),  # account mismatch
        ("mt5.a-1.account", snapshot("a-1", 1e15, T0)[1], "InvalidFact"),
        ("nope", b"{}", "subject"),
    ],
)
def test_decider_when_fact_is_bad_then_rejected_with_kind_and_nothing_pending(
    subject: str, data: bytes, kind: str
) -> None:
    decider = decider_with("a-1")
    outcome = decider.decide(7, subject, data)
    assert isinstance(outcome, Rejected)
    assert outcome.kind == kind
    assert outcome.reason
    assert decider.pending_count == 0
    assert decider.last_seq == 7


def test_decider_when_duplicate_open_then_rejected_and_first_kept() -> None:
    decider = decider_with("a-1")
    opened = PositionOpened(
        account_id="a-1", ticket=5, identifier=5, symbol="EURUSD", side="buy", volume=0.1,
        price_open=1.1, price_current=1.1, time_msc=int(T0.timestamp() * 1000),
    )  # fmt: skip
    subject = subjects.position("a-1", "opened")
    assert isinstance(decider.decide(1, subject, encode(opened)), Applied)
    again = decider.decide(2, subject, encode(opened))
    assert isinstance(again, Rejected)
    assert again.kind == "DuplicatePosition"
    assert list(decider.accounts["a-1"].positions) == ["5"]


def test_configure_when_rules_unchanged_then_nothing_recorded() -> None:
    decider = decider_with("a-1")
    assert not decider.configure("a-1", rules(), FactRef(3, T0))
    assert decider.collect() == []
    assert decider.configure("a-1", rules(warning_fraction=Decimal("0.5")), FactRef(3, T0))
    assert [type(e).__name__ for e in decider.collect()] == ["LimitsChanged"]


def test_build_command_when_each_kind_then_wire_command_with_the_id() -> None:
    close_all = build_command("a-1", "a-1-4", {"kind": "close_all", "reason": "daily"})
    assert isinstance(close_all, CloseAll)
    assert close_all.command_id == "a-1-4"
    state = build_command("a-1", "a-1-5", {"kind": "set_trading_state", "state": "HALTED"})
    assert isinstance(state, SetTradingState)
    assert state.state == "HALTED"
    close = build_command("a-1", "a-1-9", {"kind": "close_position", "ticket": 7, "volume": 0.1})
    assert (close.ticket, close.volume) == (7, 0.1)  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="unknown kind"):
        build_command("a-1", "x", {"kind": "reboot"})


class FakeRecorder:
    """Records inserts; fails as scripted: 'down' (OperationalError), 'taken' (IntegrityError)."""

    def __init__(self, script: Sequence[str] = ()) -> None:
        self.script = list(script)
        self.inserted: list[tuple[int, int | None]] = []
        self.tracking: int | None = None
        self.landed_silently = False

    def insert_events(self, stored: list[Any], tracking: Tracking | None = None) -> None:
        step = self.script.pop(0) if self.script else "ok"
        if step == "down":
            if self.landed_silently and tracking is not None:
                self.tracking = tracking.notification_id  # stored, but the answer was lost
            raise OperationalError("no answer")
        if step == "taken":
            raise IntegrityError("tracking moved")
        self.inserted.append((len(stored), tracking.notification_id if tracking else None))
        if tracking is not None:
            self.tracking = tracking.notification_id

    def max_tracking_id(self, name: str) -> int | None:
        assert name == UPSTREAM
        return self.tracking


def pipeline_with(recorder: FakeRecorder) -> CommitPipeline:
    store = RiskStore(plain_mapper(), recorder, recorder, None)  # type: ignore[arg-type]
    return CommitPipeline(store)


async def test_pipeline_when_groups_submitted_then_committed_in_order_with_tracking() -> None:
    recorder = FakeRecorder()
    pipeline = pipeline_with(recorder)
    pipeline.start(0)
    decider = decider_with("a-1")
    decider.decide(1, *snapshot("a-1", 100_000, T0))
    first = await pipeline.submit(decider.collect(), 1)
    second = await pipeline.submit([], 5)  # a checkpoint: tracking only
    await asyncio.wait_for(asyncio.gather(first.done, second.done), 5)
    await pipeline.close()
    assert [t for _, t in recorder.inserted] == [1, 5]
    assert recorder.inserted[0][0] > 0
    assert pipeline.committed_seq == 5


async def test_pipeline_when_no_new_fact_then_events_without_tracking() -> None:
    recorder = FakeRecorder()
    pipeline = pipeline_with(recorder)
    pipeline.start(9)
    decider = decider_with("a-1")
    group = await pipeline.submit([], 9)
    decider.configure("a-1", rules(warning_fraction=Decimal("0.5")), FactRef(9, T0))
    request = await pipeline.submit(decider.collect(), 9)
    await asyncio.wait_for(asyncio.gather(group.done, request.done), 5)
    await pipeline.close()
    assert recorder.inserted == [(1, None)]  # nothing for the empty group; no tracking move
    assert pipeline.committed_seq == 9


async def test_pipeline_when_server_does_not_answer_then_retried_until_written() -> None:
    recorder = FakeRecorder(["down", "down"])
    pipeline = pipeline_with(recorder)
    pipeline.start(0)
    group = await pipeline.submit([], 3)
    await asyncio.wait_for(group.done, 10)
    await pipeline.close()
    assert recorder.inserted == [(0, 3)]


async def test_pipeline_when_write_landed_but_answer_lost_then_not_fenced() -> None:
    recorder = FakeRecorder(["down", "taken"])
    recorder.landed_silently = True
    pipeline = pipeline_with(recorder)
    pipeline.start(0)
    group = await pipeline.submit([], 4)
    await asyncio.wait_for(group.done, 10)
    await pipeline.close()
    assert pipeline.committed_seq == 4
    assert pipeline.failure is None


async def test_pipeline_when_tracking_moved_by_another_writer_then_fenced() -> None:
    recorder = FakeRecorder(["taken"])
    pipeline = pipeline_with(recorder)
    pipeline.start(0)
    group = await pipeline.submit([], 4)
    with pytest.raises(EngineFenced):
        await asyncio.wait_for(group.done, 5)
    with pytest.raises(EngineFenced):
        await pipeline.submit([], 5)
    await pipeline.close()
