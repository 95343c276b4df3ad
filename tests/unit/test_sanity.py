"""bus.sanity through bus.codec: the one decoding every consumer (engine, audit, projector,
supervisor) uses refuses absurd values with a reason naming the field."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from bus import codec, subjects
from bus.schemas import (
    AccountSnapshot,
    AgentHeartbeat,
    OrderExecuted,
    PositionClosed,
    TickReceived,
)

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MSC = int(NOW.timestamp() * 1000)
A = "san-1"

TICK = TickReceived(account_id=A, symbol="EURUSD", bid=1.085, ask=1.0851, time_msc=MSC)
CLOSED = PositionClosed(
    account_id=A, ticket=1, identifier=1, symbol="EURUSD", side="sell", volume=0.5,
    price_open=1.08, price_current=1.09, time_msc=MSC, close_price=1.09, close_time_msc=MSC,
)  # fmt: skip
SNAPSHOT = AccountSnapshot(
    account_id=A, login=1, balance=100.0, equity=90.0, margin=0.0, margin_free=90.0,
    margin_level=0.0, profit=-10.0, currency="USD", server="s", time=NOW,
)  # fmt: skip
HEARTBEAT = AgentHeartbeat(
    account_id=A, agent_id="x", pid=1, terminal_connected=True, breaker_state="closed",
    terminal_latency_ms=3.0, last_tick_age_s={"EURUSD": 0.5}, time=NOW,
)  # fmt: skip
EXECUTED = OrderExecuted(account_id=A, command_id="c-1", ticket=1, retcode=10009, time=NOW)

TICK_SUBJECT = subjects.tick(A, "EURUSD")
CLOSED_SUBJECT = subjects.position(A, "closed")
ACCOUNT_SUBJECT = subjects.account_snapshot(A)
HEALTH_SUBJECT = subjects.health(A)
EXECUTED_SUBJECT = subjects.order(A, "executed")


def changed(fact: msgspec.Struct, **values: Any) -> bytes:
    return msgspec.json.encode(msgspec.to_builtins(fact) | values)


@pytest.mark.parametrize(
    ("subject", "fact"),
    [
        (TICK_SUBJECT, TICK),
        (CLOSED_SUBJECT, CLOSED),
        (ACCOUNT_SUBJECT, SNAPSHOT),
        (HEALTH_SUBJECT, HEARTBEAT),
        (EXECUTED_SUBJECT, EXECUTED),  # volume 0: an executed order's volume may be unknown
    ],
)
def test_fact_when_values_are_plausible_then_decoded(subject: str, fact: msgspec.Struct) -> None:
    assert codec.decode_fact(subject, codec.encode(fact)) == fact  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("subject", "data", "reason"),
    [
        (TICK_SUBJECT, changed(TICK, bid=-1.0), "bid -1.0 is negative"),
        (TICK_SUBJECT, changed(TICK, time_msc=5), "time_msc 5 (1970-01-01"),
        (TICK_SUBJECT, changed(TICK, time_msc=2**62), "time_msc 4611686018427387904"),
        (CLOSED_SUBJECT, changed(CLOSED, close_price=-1.0), "close_price -1.0 is negative"),
        (CLOSED_SUBJECT, changed(CLOSED, close_time_msc=1), "close_time_msc 1 "),
        (CLOSED_SUBJECT, changed(CLOSED, volume=2e6), "volume 2000000.0 lots is out of range"),
        (ACCOUNT_SUBJECT, changed(SNAPSHOT, balance=-0.5), "balance -0.5 is negative"),
        (ACCOUNT_SUBJECT, changed(SNAPSHOT, reset_balance=-2.0), "reset_balance -2.0 is neg"),
        (ACCOUNT_SUBJECT, changed(SNAPSHOT, reset_at="1999-12-31T23:59:59Z"), "reset_at ("),
        (HEALTH_SUBJECT, changed(HEARTBEAT, time="2100-01-01T00:00:00Z"), "time (2100-01-01"),
        (EXECUTED_SUBJECT, changed(EXECUTED, volume=1e9), "volume 1000000000.0 lots"),
        (
            ACCOUNT_SUBJECT,
            codec.encode(SNAPSHOT).replace(b'"margin":0.0', b'"margin":NaN'),
            "$.margin is not a finite number",
        ),
        (
            HEALTH_SUBJECT,
            codec.encode(HEARTBEAT).replace(b'"EURUSD":0.5', b'"EURUSD":Infinity'),
            "$.last_tick_age_s.EURUSD is not a finite number",
        ),
    ],
)
def test_fact_when_a_value_is_absurd_then_decode_error_naming_the_field(
    subject: str, data: bytes, reason: str
) -> None:
    with pytest.raises(codec.DecodeError) as caught:
        codec.decode_fact(subject, data)
    assert reason in caught.value.reason
    assert caught.value.subject == subject


def test_snapshot_when_equity_is_below_zero_then_left_to_the_domain() -> None:
    blown = changed(SNAPSHOT, equity=-250.0, margin_free=-250.0)
    decoded = codec.decode_fact(ACCOUNT_SUBJECT, blown)
    assert isinstance(decoded, AccountSnapshot)
    assert decoded.equity == -250.0


def test_json_when_malformed_otherwise_then_the_decoders_own_reason() -> None:
    with pytest.raises(codec.DecodeError, match="malformed"):
        codec.decode_fact(TICK_SUBJECT, b'{"type": "TickReceived", "bid": nope}')
