from __future__ import annotations

import contextlib
from datetime import UTC, datetime

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bus import codec
from bus.schemas import (
    AccountSnapshot,
    CloseAll,
    ClosePosition,
    PositionClosed,
    TickReceived,
)

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
NOW_MSC = int(NOW.timestamp() * 1000)


def test_encode_when_fact_then_plain_json_with_type_tag() -> None:
    tick = TickReceived(account_id="a1", symbol="EURUSD", bid=1.1, ask=1.2, time_msc=NOW_MSC)
    data = codec.encode(tick)
    as_dict = msgspec.json.decode(data)
    assert as_dict["type"] == "TickReceived"
    assert as_dict["bid"] == 1.1
    assert codec.decode_fact("mt5.a1.tick.EURUSD", data) == tick


def test_decode_fact_when_time_then_iso_utc_string_round_trips() -> None:
    snap = AccountSnapshot(
        account_id="a1",
        login=1,
        balance=1.0,
        equity=1.0,
        margin=0.0,
        margin_free=1.0,
        margin_level=0.0,
        profit=0.0,
        currency="USD",
        server="s",
        time=NOW,
    )
    data = codec.encode(snap)
    assert b'"2026-11-22T12:00:00Z"' in data
    assert codec.decode_fact("mt5.a1.account", data) == snap


def test_decode_fact_when_family_union_then_dispatches_on_type() -> None:
    closed = PositionClosed(
        account_id="a1",
        ticket=7,
        identifier=7,
        symbol="EURUSD",
        side="buy",
        volume=0.1,
        price_open=1.1,
        price_current=1.2,
        time_msc=NOW_MSC,
        close_price=1.2,
        deal_reason="sl",
        close_time_msc=NOW_MSC + 1,
    )
    decoded = codec.decode_fact("mt5.a1.position.closed", codec.encode(closed))
    assert isinstance(decoded, PositionClosed)
    assert decoded.deal_reason == "sl"


def test_decode_fact_when_unknown_fields_then_ignored() -> None:
    data = (
        b'{"type":"TickReceived","account_id":"a1","symbol":"EURUSD","bid":1,'
        b'"ask":2,"time_msc":1795000000000,"new_field":"from a newer agent"}'
    )
    tick = codec.decode_fact("mt5.a1.tick.EURUSD", data)
    assert isinstance(tick, TickReceived)


@pytest.mark.parametrize(
    ("subject", "data", "reason"),
    [
        ("mt5.a1.tick.EURUSD", b"{", "truncated"),
        ("mt5.a1.tick.EURUSD", b'{"type":"TickReceived"}', "missing required field"),
        ("mt5.a1.account", b'{"type":"TickReceived"}', "Invalid value 'TickReceived'"),
        ("mt5.a1.nosuch", b"{}", "unknown fact family"),
        ("other.a1.tick", b"{}", "not an mt5 fact subject"),
        (
            "mt5.a2.tick.EURUSD",
            b'{"type":"TickReceived","account_id":"a1","symbol":"EURUSD","bid":1,"ask":2,'
            b'"time_msc":3}',
            "does not match subject account",
        ),
        (
            "mt5.a1.tick.EURUSD",
            b'{"type":"TickReceived","account_id":"a.1","symbol":"EURUSD","bid":1,"ask":2,'
            b'"time_msc":3}',
            "matching regex",
        ),
    ],
)
def test_decode_fact_when_bad_then_decode_error_with_reason(
    subject: str, data: bytes, reason: str
) -> None:
    with pytest.raises(codec.DecodeError) as info:
        codec.decode_fact(subject, data)
    assert reason in str(info.value)
    assert info.value.subject == subject


def test_decode_command_when_valid_then_typed_command() -> None:
    cmd = ClosePosition(command_id="c1", account_id="a1", ticket=5)
    assert codec.decode_command("cmd.a1.close_position", codec.encode(cmd)) == cmd
    close_all = CloseAll(command_id="c2", account_id="a1")
    assert codec.decode_command("cmd.a1.close_all", codec.encode(close_all)) == close_all


def test_decode_command_when_account_mismatch_then_error() -> None:
    cmd = ClosePosition(command_id="c1", account_id="a1", ticket=5)
    with pytest.raises(codec.DecodeError, match="does not match"):
        codec.decode_command("cmd.other.close_position", codec.encode(cmd))


FAMILY_SUBJECTS = [
    "mt5.a1.tick.EURUSD",
    "mt5.a1.position.opened",
    "mt5.a1.account",
    "mt5.a1.health",
    "mt5.a1.order.executed",
    "mt5.a1.lifecycle",
]


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=512), subject=st.sampled_from(FAMILY_SUBJECTS))
def test_decode_fact_when_random_bytes_then_only_decode_error(data: bytes, subject: str) -> None:
    with contextlib.suppress(codec.DecodeError):
        codec.decode_fact(subject, data)


@settings(max_examples=300, deadline=None)
@given(
    payload=st.dictionaries(
        st.sampled_from(["type", "account_id", "ticket", "command_id", "volume", "x"]),
        st.one_of(st.none(), st.integers(), st.floats(), st.text(max_size=8), st.booleans()),
    )
)
def test_decode_command_when_random_json_then_only_decode_error(payload: dict[str, object]) -> None:
    with contextlib.suppress(codec.DecodeError):
        codec.decode_command("cmd.a1.close_position", msgspec.json.encode(payload))


def test_fact_msg_id_when_same_inputs_then_same_id() -> None:
    assert codec.fact_msg_id("a1", "position.opened", 42) == codec.fact_msg_id(
        "a1", "position.opened", 42
    )
    assert codec.fact_msg_id("a1", "position.opened", 42) != codec.fact_msg_id(
        "a1", "position.closed", 42
    )
