from __future__ import annotations

from pathlib import Path

from agents.outbox import PRIORITY_ACCOUNT, PRIORITY_FACT, PRIORITY_TICK, Outbox, OutgoingFact
from agents.store import open_store, transaction


def _fact(n: int, priority: int) -> OutgoingFact:
    return OutgoingFact(f"s.{priority}", f"id-{n}", str(n).encode(), priority)


def test_outbox_when_drained_then_fifo_order(tmp_path: Path) -> None:
    box = Outbox(open_store(tmp_path / "a.sqlite"), 100)
    box.append([_fact(i, i % 3) for i in range(10)])
    rows = box.peek(4)
    assert [r.msg_id for r in rows] == ["id-0", "id-1", "id-2", "id-3"]
    box.remove_through(rows[-1].seq)
    assert len(box) == 6
    assert [r.msg_id for r in box.peek(100)] == [f"id-{i}" for i in range(4, 10)]


def test_outbox_when_full_then_ticks_evicted_before_facts(tmp_path: Path) -> None:
    box = Outbox(open_store(tmp_path / "a.sqlite"), 5)
    box.append([_fact(0, PRIORITY_FACT), _fact(1, PRIORITY_TICK), _fact(2, PRIORITY_ACCOUNT)])
    box.append([_fact(3, PRIORITY_TICK), _fact(4, PRIORITY_FACT)])
    assert box.full
    assert box.dropped == 0
    box.append([_fact(5, PRIORITY_FACT), _fact(6, PRIORITY_FACT)])
    assert len(box) == 5
    assert box.dropped == 2
    assert [r.msg_id for r in box.peek(10)] == ["id-0", "id-2", "id-4", "id-5", "id-6"]
    box.append([_fact(7, PRIORITY_FACT)])  # no ticks left: the oldest account snapshot goes
    assert [r.msg_id for r in box.peek(10)] == ["id-0", "id-4", "id-5", "id-6", "id-7"]
    box.append([_fact(8, PRIORITY_TICK)])  # then the oldest position fact
    assert [r.msg_id for r in box.peek(10)] == ["id-4", "id-5", "id-6", "id-7", "id-8"]
    assert box.dropped == 4


def test_outbox_when_batch_exceeds_bound_then_keeps_newest_important(tmp_path: Path) -> None:
    box = Outbox(open_store(tmp_path / "a.sqlite"), 3)
    box.append([_fact(0, PRIORITY_FACT), _fact(1, PRIORITY_TICK), _fact(2, PRIORITY_FACT),
                _fact(3, PRIORITY_TICK), _fact(4, PRIORITY_FACT)])  # fmt: skip
    assert [r.msg_id for r in box.peek(10)] == ["id-0", "id-2", "id-4"]
    assert box.dropped == 2


def test_outbox_when_reopened_then_facts_survive(tmp_path: Path) -> None:
    path = tmp_path / "a.sqlite"
    conn = open_store(path)
    Outbox(conn, 10).append([_fact(i, PRIORITY_FACT) for i in range(3)])
    conn.close()
    box = Outbox(open_store(path), 10)
    assert len(box) == 3
    assert [r.payload for r in box.peek(10)] == [b"0", b"1", b"2"]


def test_outbox_when_transaction_rolls_back_then_nothing_added(tmp_path: Path) -> None:
    conn = open_store(tmp_path / "a.sqlite")
    box = Outbox(conn, 10)
    try:
        with transaction(conn):
            box.append([_fact(1, PRIORITY_FACT)])
            raise RuntimeError("boom")
    except RuntimeError:
        box.recount()
    assert len(box) == 0
    assert box.peek(10) == []
