"""The signals view's status machine and the reconciliation of signals, from hand-written logs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bus import subjects
from bus.codec import encode
from bus.schemas import (
    AccountSnapshot,
    OrderExecuted,
    OrderRejected,
    PositionClosed,
    PositionOpened,
)
from domain.signals import signal_command_id
from projections.db import open_database
from projections.settings import AccountSettings
from projections.signals import RETAIN, SignalBook
from projections.views import Views

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ACC = "acc"
MAGIC = 424242


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat()


def received(signal_id: str = "s1", account_id: str = ACC, **fields: Any) -> dict[str, Any]:
    return {
        "account_id": account_id,
        "seq": 1,
        "signal_id": signal_id,
        "strategy": "demo",
        "symbol": "EURUSD",
        "side": "buy",
        "order_type": "market",
        "price": None,
        "volume": None,
        "risk_percent": "0.5",
        "sl": "1.08",
        "tp": "1.09",
        "comment": "breakout",
        "received_at": at(0),
        "expires_at": at(60),
        "approval": "manual",
        "actor": "strategy:demo",
    } | fields


def body(signal_id: str = "s1", account_id: str = ACC, **fields: Any) -> dict[str, Any]:
    return {
        "account_id": account_id,
        "seq": 1,
        "signal_id": signal_id,
        "approval_id": f"{signal_id}:{account_id}",
    } | fields


def cmd(signal_id: str = "s1", account_id: str = ACC) -> str:
    return signal_command_id(signal_id, account_id)


def executed(command: str, seconds: float, **fields: Any) -> OrderExecuted:
    base: dict[str, Any] = {
        "account_id": ACC,
        "command_id": command,
        "ticket": 501,
        "retcode": 10009,
        "deal": 601,
        "position": 701,
        "volume": 0.37,
        "price": 1.0851,
        "time": T0 + timedelta(seconds=seconds),
    }
    return OrderExecuted(**(base | fields))


def rejected(command: str, seconds: float, **fields: Any) -> OrderRejected:
    base: dict[str, Any] = {
        "account_id": ACC,
        "command_id": command,
        "retcode": 10018,
        "comment": "Market closed",
        "time": T0 + timedelta(seconds=seconds),
    }
    return OrderRejected(**(base | fields))


def sent(book: SignalBook, signal_id: str = "s1", *, manual: bool = True) -> dict[str, Any]:
    """A signal through sizing and approval to OrderPlaced."""
    book.decision("SignalReceived", received(signal_id), at(0))
    book.decision(
        "SignalSized",
        body(signal_id, volume="0.37", sizing="risk_percent", basis={"equity": "100000"}),
        at(0),
    )
    if manual:
        book.decision("ApprovalRequested", body(signal_id), at(0))
    actor = "api:alice" if manual else "auto"
    book.decision("Approved", body(signal_id, actor=actor, reason="ok"), at(5))
    request = {"client_order_id": cmd(signal_id), "symbol": "EURUSD"}
    book.decision("OrderApproved", {"account_id": ACC, "seq": 1, "request": request}, at(5))
    row = book.decision(
        "OrderPlaced", body(signal_id, command_id=cmd(signal_id), volume="0.37"), at(5)
    )
    assert row is not None
    return row


def statuses(row: dict[str, Any]) -> list[str]:
    return [h["status"] for h in row["history"]]


# --- the status machine -------------------------------------------------------------------


def test_manual_signal_when_approved_sent_executed_then_every_status_with_position() -> None:
    book = SignalBook()
    row = book.decision("SignalReceived", received(), at(0))
    assert row is not None
    assert (row["status"], row["approval_status"]) == ("received", None)
    book.decision("SignalSized", body(volume="0.37", sizing="risk_percent", basis={}), at(0))
    book.decision("ApprovalRequested", body(), at(0))
    assert (row["status"], row["approval_status"], row["volume"]) == ("received", "pending", 0.37)
    book.decision("Approved", body(actor="api:alice", reason="looks fine"), at(5))
    assert (row["status"], row["actor"], row["reason"]) == ("approved", "api:alice", "looks fine")
    book.decision("OrderPlaced", body(command_id=cmd(), volume="0.37", symbol="EURUSD"), at(5))
    assert (row["status"], row["sent_at"]) == ("sent", at(5))
    assert book.fact(executed(cmd(), 6)) is row
    assert row["status"] == "executed"
    assert (row["mt5_position_id"], row["mt5_deal"], row["fill_price"]) == (701, 601, 1.0851)
    assert row["approval_status"] == "approved"
    assert row["approval_id"] == f"s1:{ACC}"
    assert row["order_comment"] == f"mtq-{cmd()[:8]}"
    assert statuses(row) == ["received", "approved", "sent", "executed"]
    assert (row["decided_at"], row["finished_at"]) == (at(5), at(6))
    assert row["notes"] == []


def test_auto_signal_when_terminal_rejects_then_rejected_with_retcode() -> None:
    book = SignalBook()
    row = sent(book, manual=False)
    assert row["approval_status"] == "approved"
    assert row["actor"] == "auto"
    book.fact(rejected(cmd(), 6))
    assert row["status"] == "rejected"
    assert (row["actor"], row["reason"], row["retcode"]) == (
        "terminal",
        "10018 Market closed",
        10018,
    )
    assert statuses(row) == ["received", "approved", "sent", "rejected"]


def test_late_rejection_when_already_executed_then_executed_kept_and_noted() -> None:
    book = SignalBook()
    row = sent(book)
    book.fact(executed(cmd(), 6))
    book.fact(rejected(cmd(), 7, retcode=10021, comment="No prices"))
    assert row["status"] == "executed"
    assert row["mt5_position_id"] == 701
    assert [n["event"] for n in row["notes"]] == ["OrderRejected"]
    assert "ignored: signal is executed" in row["notes"][0]["note"]


def test_duplicate_execution_fact_when_applied_twice_then_one_execution() -> None:
    book = SignalBook()
    row = sent(book)
    book.fact(executed(cmd(), 6))
    book.fact(executed(cmd(), 6))
    assert statuses(row) == ["received", "approved", "sent", "executed"]
    assert row["notes"][0]["note"].startswith("duplicate")


def test_execution_when_after_a_terminal_rejection_then_broker_wins() -> None:
    book = SignalBook()
    row = sent(book)
    book.fact(rejected(cmd(), 6, retcode=None, comment="terminal unavailable"))
    book.fact(executed(cmd(), 8))
    assert row["status"] == "executed"
    assert row["mt5_position_id"] == 701
    assert statuses(row)[-2:] == ["rejected", "executed"]
    assert "executed after a rejection" in row["notes"][0]["note"]


def test_expiry_when_approval_never_came_then_expired_and_late_approval_ignored() -> None:
    book = SignalBook()
    row = book.decision("SignalReceived", received(), at(0))
    assert row is not None
    book.decision("ApprovalRequested", body(), at(0))
    book.decision("SignalExpired", body(reason="no approval within 60 s"), at(61))
    assert (row["status"], row["approval_status"]) == ("expired", "expired")
    assert row["reason"] == "no approval within 60 s"
    book.decision("Approved", body(actor="api:alice", reason="late"), at(62))
    assert row["status"] == "expired"
    assert row["notes"][0]["note"] == "ignored: signal is expired"


def test_rejection_when_by_a_person_then_actor_recorded() -> None:
    book = SignalBook()
    book.decision("SignalReceived", received(), at(0))
    book.decision("ApprovalRequested", body(), at(0))
    row = book.decision("Rejected", body(actor="api:bob", reason="news at 10"), at(3))
    assert row is not None
    assert (row["status"], row["approval_status"], row["actor"]) == (
        "rejected",
        "rejected",
        "api:bob",
    )


def test_pre_trade_denial_when_risk_rejects_then_rejected_with_the_check() -> None:
    book = SignalBook()
    book.decision("SignalReceived", received(approval="auto"), at(0))
    book.decision("Approved", body(actor="auto", reason="approval: auto"), at(0))
    denial = {
        "account_id": ACC,
        "seq": 1,
        "request": {"client_order_id": cmd()},
        "reasons": ["trading state is HALTED"],
    }
    row = book.decision("OrderDenied", denial, at(0))
    assert row is not None
    assert row["status"] == "approved"
    book.decision("Rejected", body(actor="risk", reason="pre-trade: HALTED"), at(0))
    assert (row["status"], row["actor"]) == ("rejected", "risk")
    assert row["risk_check"] == {
        "decision": "denied",
        "time": at(0),
        "reasons": ["trading state is HALTED"],
    }
    assert row["approval_status"] == "approved"


def test_unknown_command_and_duplicate_signal_when_applied_then_nothing_new() -> None:
    book = SignalBook()
    assert book.fact(executed("0" * 32, 1)) is None
    first = book.decision("SignalReceived", received(), at(0))
    again = book.decision("SignalReceived", received(comment="other"), at(1))
    assert again is first
    assert first is not None
    assert first["comment"] == "breakout"
    assert first["notes"][0]["note"] == "duplicate: already received"


def test_save_and_load_when_rows_saved_then_same_rows_and_old_final_ones_evicted(
    tmp_path: Path,
) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'v.sqlite'}")
    book = SignalBook()
    done = sent(book, "old")
    book.fact(executed(cmd("old"), 6))
    live = book.decision("SignalReceived", received("new"), at(10))
    with db.transaction() as cur:
        assert book.save(cur) == 2
    book.clear()
    later = (T0 + RETAIN + timedelta(seconds=7)).isoformat()
    book.decision("SignalReceived", received("newest", received_at=later), later)
    assert ("old", ACC) not in book.rows  # final for longer than RETAIN: only in the table
    assert book.fact(executed(cmd("old"), 9)) is None
    with db.transaction() as cur:
        book.save(cur)
    loaded = SignalBook()
    loaded.load(db)
    assert sorted(loaded.rows) == [("new", ACC), ("newest", ACC)]
    assert loaded.rows[("new", ACC)] == live
    stored = db.query("SELECT status, approval_status FROM proj_signals WHERE signal_id = 'old'")
    assert stored == [("executed", "approved")]
    assert done["status"] == "executed"
    db.close()


# --- reconciliation: the eight statuses through the views ------------------------------------


class Log:
    """Decisions and facts applied to real views, numbered as the projector numbers them."""

    def __init__(self) -> None:
        self.views = Views({ACC: AccountSettings(account_id=ACC, our_magics=frozenset({MAGIC}))})
        self.seq = 0
        self.nid = 0

    def decide(self, kind: str, seconds: float, data: dict[str, Any]) -> None:
        self.nid += 1
        doc = {"timestamp": at(seconds), **data}
        self.views.apply_decision(self.nid, subjects.risk_events(ACC, self.nid, kind), doc)

    def fact(self, subject: str, message: Any) -> None:
        self.seq += 1
        self.views.apply_fact(self.seq, subject, encode(message))

    def signal(self, signal_id: str, *, placed: bool = True, price: float = 1.085) -> None:
        self.decide("SignalReceived", 0, received(signal_id, approval="auto"))
        self.decide("SignalSized", 0, body(signal_id, volume="1", sizing="fixed", basis={}))
        self.decide("Approved", 0, body(signal_id, actor="auto", reason="approval: auto"))
        if not placed:
            return
        request = {
            "client_order_id": cmd(signal_id),
            "symbol": "EURUSD",
            "side": "buy",
            "volume": 1.0,
            "price": price,
            "sl": 1.08,
            "tp": 1.09,
        }
        self.decide(
            "OrderApproved", 0, {"account_id": ACC, "seq": 0, "request": request, "reasons": []}
        )
        self.decide("OrderPlaced", 0, body(signal_id, command_id=cmd(signal_id), volume="1"))

    def opened(self, ident: int, seconds: float, **fields: Any) -> None:
        base: dict[str, Any] = {
            "account_id": ACC,
            "ticket": ident,
            "identifier": ident,
            "symbol": "EURUSD",
            "side": "buy",
            "volume": 1.0,
            "price_open": 1.085,
            "price_current": 1.085,
            "sl": 1.08,
            "tp": 1.09,
            "magic": MAGIC,
            "reason": "expert",
            "time_msc": int((T0 + timedelta(seconds=seconds)).timestamp() * 1000),
        }
        self.fact(subjects.position(ACC, "opened"), PositionOpened(**(base | fields)))

    def item(self, item_id: str) -> dict[str, Any]:
        return self.views.recon[ACC].items[item_id]


def test_reconciliation_when_each_case_happens_then_each_of_the_eight_statuses() -> None:
    log = Log()
    log.signal("match")
    log.opened(11, 1, comment=f"mtq-{cmd('match')[:8]}")
    log.signal("slip")
    log.opened(12, 1, comment=f"mtq-{cmd('slip')[:8]}", price_open=1.0865)
    log.signal("part")
    log.opened(13, 1, comment=f"mtq-{cmd('part')[:8]}", volume=0.5)
    log.signal("deny", placed=False)
    log.decide("Rejected", 1, body("deny", actor="risk", reason="pre-trade: lots"))
    log.decide("SignalReceived", 0, received("late"))
    log.decide("ApprovalRequested", 0, body("late"))
    log.decide("SignalExpired", 61, body("late", reason="no approval within 60 s"))
    log.signal("unfilled", price=1.2)
    log.opened(14, 2, reason="client", comment="")
    log.signal("stopped")
    log.opened(15, 1, comment=f"mtq-{cmd('stopped')[:8]}")
    close = int((T0 + timedelta(seconds=30)).timestamp() * 1000)
    log.fact(
        subjects.position(ACC, "closed"),
        PositionClosed(
            account_id=ACC, ticket=15, identifier=15, symbol="EURUSD", side="buy", volume=1.0,
            price_open=1.085, price_current=1.08, sl=1.08, tp=1.09, magic=MAGIC,
            comment=f"mtq-{cmd('stopped')[:8]}", reason="expert", time_msc=close,
            close_price=1.08, deal_reason="sl", close_time_msc=close,
        ),
    )  # fmt: skip
    log.fact(subjects.account_snapshot(ACC), _snapshot(40))  # the fill window passes

    found = {i: log.item(f"o:{cmd(i)}") for i in ("match", "slip", "part", "deny", "late")}
    found["unfilled"] = log.item(f"o:{cmd('unfilled')}")
    found["stopped"] = log.item(f"o:{cmd('stopped')}")
    shown = {name: item["status"] for name, item in found.items()}
    assert shown == {
        "match": "matched",
        "slip": "slipped",
        "part": "partial",
        "deny": "rejected",
        "late": "expired",
        "unfilled": "not_executed",
        "stopped": "closed_by_broker",
    }
    assert log.item("p:14")["status"] == "manual"
    assert log.item("p:14")["divergence_reason"] == "opened by hand (client)"
    assert log.item("p:14")["signal_id"] is None
    match = found["match"]
    assert (match["signal_id"], match["approval_id"], match["mt5_position_id"]) == (
        "match",
        f"match:{ACC}",
        11,
    )
    assert match["divergence_reason"] is None
    assert found["slip"]["divergence_reason"] == "entry 1.0865 is 15.0 pips from 1.085 (limit 5.0)"
    assert found["part"]["reasons"][0]["reason"] == "volume"
    assert found["deny"]["divergence_reason"] == "rejected by risk: pre-trade: lots"
    assert found["late"]["reasons"] == [
        {"reason": "expired", "by": "risk", "detail": "no approval within 60 s"}
    ]
    assert found["unfilled"]["reasons"][0]["reason"] == "never_filled"
    assert found["stopped"]["divergence_reason"] == "closed by the broker (sl)"
    rows = log.views.signals.rows
    assert rows[("stopped", ACC)]["status"] == "sent"  # no OrderExecuted was answered here


def test_reconciliation_when_terminal_rejects_a_placed_signal_then_rejected_not_pending() -> None:
    log = Log()
    log.signal("closed-market")
    log.fact(subjects.order(ACC, "rejected"), rejected(cmd("closed-market"), 1))
    item = log.item(f"o:{cmd('closed-market')}")
    assert item["status"] == "rejected"
    assert item["divergence_reason"] == "rejected by terminal: 10018 Market closed"
    assert [h["status"] for h in item["history"]] == ["pending", "rejected"]
    log.fact(subjects.account_snapshot(ACC), _snapshot(40))
    assert item["status"] == "rejected"  # final: never not_executed


def _snapshot(seconds: float) -> AccountSnapshot:
    return AccountSnapshot(
        account_id=ACC,
        login=1,
        balance=100000.0,
        equity=100000.0,
        margin=0.0,
        margin_free=100000.0,
        margin_level=0.0,
        profit=0.0,
        currency="USD",
        server="Sim",
        time=T0 + timedelta(seconds=seconds),
    )


def test_reconciliation_when_executed_after_a_terminal_rejection_then_item_stays_rejected() -> None:
    """Final items leave memory at the next save, so pairing them would depend on batches."""
    log = Log()
    log.signal("late-fill")
    command = cmd("late-fill")
    log.fact(subjects.order(ACC, "rejected"), rejected(command, 1, retcode=None, comment="lost"))
    log.fact(subjects.order(ACC, "executed"), executed(command, 2, position=16))
    log.opened(16, 2, comment=f"mtq-{command[:8]}")
    assert log.item(f"o:{command}")["status"] == "rejected"
    assert log.item("p:16")["status"] == "manual"
    row = log.views.signals.rows[("late-fill", ACC)]
    assert (row["status"], row["mt5_position_id"]) == ("executed", 16)


def test_late_fact_when_more_than_retain_after_the_row_ended_then_ignored_in_memory_or_not() -> (
    None
):
    book = SignalBook()
    row = sent(book)
    book.fact(executed(cmd(), 6))
    late = (RETAIN + timedelta(seconds=7)).total_seconds()
    assert book.fact(rejected(cmd(), late)) is None
    assert row["notes"] == []
    assert book.fact(rejected(cmd(), late - 2)) is row  # within RETAIN: noted
    assert [n["event"] for n in row["notes"]] == ["OrderRejected"]


def test_pending_order_when_filled_later_then_position_id_from_its_comment() -> None:
    log = Log()
    log.signal("limit-1")
    command = cmd("limit-1")
    log.fact(subjects.order(ACC, "executed"), executed(command, 1, position=None, deal=None))
    row = log.views.signals.rows[("limit-1", ACC)]
    assert (row["status"], row["mt5_position_id"]) == ("executed", None)
    log.opened(17, 30, comment="someone else's")
    log.opened(18, 31, comment=f"mtq-{command[:8]}")
    assert row["mt5_position_id"] == 18
    assert row["updated_at"] == at(31)
    assert log.item(f"o:{command}")["mt5_position_id"] == 18
    assert log.item("p:17")["status"] == "manual"  # near in price and lots, but not its comment
