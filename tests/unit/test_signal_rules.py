"""Signals on the decider (domain/signal_rules.py through engine/decider.py), and their redo.

Each test drives a real `Decider` with facts and signal inputs, then replays the recorded
inputs on a fresh one the way the audit does (engine/inputs.py) and compares the stored
bytes of every decision.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from bus import subjects
from bus.codec import encode
from bus.schemas import AccountSnapshot, AgentHeartbeat
from domain import FactRef, MarketEvidence
from domain.signals import Signal, VolumeSpec, signal_command_id
from engine.commands import build_command
from engine.decider import Decider, Rejected, Skipped
from engine.inputs import is_input, recorded_input
from engine.messages import ApprovalIn, CheckIn, FactIn, SignalIn
from engine.store import plain_mapper
from tests.unit.test_domain_support import rules

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
D = Decimal
MARKET = MarketEvidence(symbol="EURUSD", bid=D("1.08490"), ask=D("1.08500"), tick_time=T0)
SIGNAL = Signal(
    signal_id="sig-1",
    strategy="demo",
    symbol="EURUSD",
    side="buy",
    order_type="market",
    price=None,
    volume=None,
    risk_percent=D("0.5"),
    sl=D("1.08200"),
    tp=D("1.09000"),
    comment="test",
    approval="auto",
    actor="strategy:demo",
    expires_after_seconds=60,
    reference_price=D("1.08500"),
    volumes=VolumeSpec(),
)


class Run:
    """One decider fed facts and inputs, everything recorded kept in order."""

    def __init__(self, *accounts: str) -> None:
        self.decider = Decider()
        self.seq = 0
        self.log: list[Any] = []
        for account_id in accounts:
            self.decider.configure(account_id, rules(), FactRef(0, T0))
        self.log.extend(self.decider.collect())

    def fact(self, subject: str, data: bytes) -> None:
        self.seq += 1
        self.decider.handle(FactIn(self.seq, subject, data))
        self.log.extend(self.decider.collect())

    def snapshot(self, account_id: str, equity: float, at: datetime) -> None:
        fact = AccountSnapshot(
            account_id=account_id, login=1, balance=equity, equity=equity, margin=0.0,
            margin_free=equity, margin_level=0.0, profit=0.0, currency="USD", server="s",
            time=at,
        )  # fmt: skip
        self.fact(subjects.account_snapshot(account_id), encode(fact))

    def heartbeat(self, account_id: str, at: datetime) -> None:
        fact = AgentHeartbeat(
            account_id=account_id, agent_id="a", pid=1, terminal_connected=True,
            breaker_state="closed", terminal_latency_ms=1.0, time=at,
        )  # fmt: skip
        self.fact(subjects.health(account_id), encode(fact))

    def ref(self, account_id: str) -> FactRef:
        ref = self.decider.account_ref(account_id)
        assert ref is not None
        return ref

    def signal(self, account_id: str, signal: Signal = SIGNAL) -> list[Any]:
        before = len(self.log)
        self.decider.handle(SignalIn(account_id, signal, self.ref(account_id)))
        self.log.extend(self.decider.collect())
        account = self.decider.accounts[account_id]
        if account.signals[signal.signal_id]["status"] == "approved":
            self.place(account_id, signal.signal_id)
        return self.log[before:]

    def place(self, account_id: str, signal_id: str, market: MarketEvidence = MARKET) -> None:
        account = self.decider.accounts[account_id]
        order = account.signal_order(signal_id, market.ask or D(0))
        self.decider.handle(CheckIn(account_id, order, market, self.ref(account_id)))
        self.log.extend(self.decider.collect())

    def approve(self, account_id: str, signal_id: str, approve: bool, actor: str) -> list[Any]:
        before = len(self.log)
        decision = ApprovalIn(
            account_id, signal_id, approve, actor, "looks fine", self.ref(account_id)
        )
        outcome = self.decider.handle(decision)
        self.log.extend(self.decider.collect())
        if approve and not isinstance(outcome, Skipped | Rejected):
            self.place(account_id, signal_id)
        return self.log[before:]


def names(events: list[Any]) -> list[str]:
    return [type(e).__name__ for e in events]


def replayed(run: Run, facts: list[tuple[int, str, bytes]], log: list[Any]) -> list[bytes]:
    """The stored states a fresh decider records from the same facts and recorded inputs."""
    decider = Decider()
    inputs = sorted((e for e in log if is_input(e)), key=lambda e: (e.seq, e.originator_version))
    out: list[Any] = []
    position = 0

    def apply_inputs(before_seq: int | None) -> None:
        nonlocal position
        while position < len(inputs) and (before_seq is None or inputs[position].seq < before_seq):
            message = recorded_input(inputs[position])
            position += 1
            assert message is not None
            decider.handle(message)
            out.extend(decider.collect())

    for seq, subject, data in facts:
        apply_inputs(seq)
        decider.handle(FactIn(seq, subject, data))
        out.extend(decider.collect())
    apply_inputs(None)
    mapper = plain_mapper()
    return [mapper.to_stored_event(e).state for e in out]


class Recording(Run):
    def __init__(self, *accounts: str) -> None:
        self.facts: list[tuple[int, str, bytes]] = []
        super().__init__(*accounts)

    def fact(self, subject: str, data: bytes) -> None:
        self.facts.append((self.seq + 1, subject, data))
        super().fact(subject, data)

    def states(self) -> list[bytes]:
        mapper = plain_mapper()
        return [mapper.to_stored_event(e).state for e in self.log]


def test_auto_signal_is_sized_approved_checked_and_placed_with_the_derived_id() -> None:
    run = Recording("a-1")
    run.snapshot("a-1", 100_000, T0)
    events = run.signal("a-1")
    assert names(events) == [
        "SignalReceived", "SignalSized", "Approved", "OrderApproved", "OrderPlaced",
    ]  # fmt: skip
    received, sized, approved, checked, placed = events
    assert received.received_at == T0.isoformat()
    assert received.expires_at == (T0 + timedelta(seconds=60)).isoformat()
    # 0.5% of 100,000 = 500; SL 0.003 = 300 ticks at 1 USD: 300 USD a lot; 1.666 -> 1.66
    assert sized.volume == "1.66"
    assert approved.actor == "auto"
    command_id = signal_command_id("sig-1", "a-1")
    assert checked.request["client_order_id"] == command_id
    assert placed.command_id == command_id
    spec = run.decider.accounts["a-1"].outstanding_commands[command_id]
    command = build_command("a-1", command_id, spec)
    assert type(command).__name__ == "PlaceOrder"
    assert (command.volume, command.sl, command.signal_id) == (1.66, 1.082, "sig-1")  # type: ignore[union-attr]
    assert replayed(run, run.facts, run.log) == run.states()


def test_repeated_signal_id_records_nothing() -> None:
    run = Run("a-1")
    run.snapshot("a-1", 100_000, T0)
    run.signal("a-1")
    assert run.signal("a-1") == []


def test_manual_signal_waits_then_a_person_approves_with_the_actor_recorded() -> None:
    run = Recording("a-1")
    run.snapshot("a-1", 100_000, T0)
    events = run.signal("a-1", replace(SIGNAL, approval="manual"))
    assert names(events)[-1] == "ApprovalRequested"
    run.heartbeat("a-1", T0 + timedelta(seconds=30))
    events = run.approve("a-1", "sig-1", True, "api:alice")
    assert names(events) == ["Approved", "OrderApproved", "OrderPlaced"]
    assert events[0].actor == "api:alice"
    assert run.decider.accounts["a-1"].signals["sig-1"]["first"]["status"] == "awaiting_approval"
    assert replayed(run, run.facts, run.log) == run.states()


def test_awaited_approval_expires_at_the_first_fact_after_expiry_and_late_ones_do_nothing() -> None:
    run = Recording("a-1")
    run.snapshot("a-1", 100_000, T0)
    run.signal("a-1", replace(SIGNAL, approval="manual"))
    run.heartbeat("a-1", T0 + timedelta(seconds=60))  # at expires_at: not yet past it
    assert run.decider.accounts["a-1"].signals["sig-1"]["status"] == "awaiting_approval"
    run.heartbeat("a-1", T0 + timedelta(seconds=61))
    assert names(run.log[-1:]) == ["SignalExpired"]
    assert run.approve("a-1", "sig-1", True, "admin") == []
    assert replayed(run, run.facts, run.log) == run.states()


def test_rejections_by_sizing_by_a_person_and_by_pre_trade() -> None:
    run = Recording("a-1")
    run.snapshot("a-1", 100_000, T0)
    no_sl = run.signal("a-1", replace(SIGNAL, signal_id="no-sl", sl=None))
    assert names(no_sl) == ["SignalReceived", "Rejected"]
    assert no_sl[-1].reason == "sizing: risk_percent sizing needs an sl"
    assert no_sl[-1].actor == "risk"
    run.signal("a-1", replace(SIGNAL, signal_id="manual", approval="manual"))
    rejected = run.approve("a-1", "manual", False, "admin")
    assert names(rejected) == ["Rejected"]
    assert rejected[0].actor == "admin"
    too_big = run.signal("a-1", replace(SIGNAL, signal_id="big", risk_percent=None, volume=D(50)))
    assert names(too_big)[-2:] == ["OrderDenied", "Rejected"]
    assert too_big[-1].reason.startswith("pre-trade: ")
    assert "trade_risk" in too_big[-1].reason
    assert replayed(run, run.facts, run.log) == run.states()


def test_a_tampered_signal_is_not_redone_identically() -> None:
    run = Recording("a-1")
    run.snapshot("a-1", 100_000, T0)
    run.signal("a-1")
    received = next(e for e in run.log if type(e).__name__ == "SignalReceived")
    object.__setattr__(received, "risk_percent", "1")
    assert replayed(run, run.facts, run.log) != run.states()


def test_an_unknown_signal_approval_is_rejected_recording_nothing() -> None:
    run = Run("a-1")
    run.snapshot("a-1", 100_000, T0)
    outcome = run.decider.handle(ApprovalIn("a-1", "nope", True, "admin", "", run.ref("a-1")))
    assert isinstance(outcome, Rejected)
    assert outcome.kind == "UnknownSignal"
    assert run.decider.collect() == []
