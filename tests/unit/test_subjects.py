from __future__ import annotations

import pytest

from bus import subjects


@pytest.mark.parametrize("good", ["acc-001", "FTMO_2", "a", "EURUSD", "x" * 64])
def test_check_token_when_safe_then_returned(good: str) -> None:
    assert subjects.check_token(good) == good


@pytest.mark.parametrize("bad", ["acc.001", "acc 001", "", "acc*", "acc>", "é", "x" * 65])
def test_account_when_unsafe_then_error_names_value_and_rule(bad: str) -> None:
    with pytest.raises(subjects.SubjectError) as info:
        subjects.account(bad)
    assert repr(bad) in str(info.value)
    assert "letters, digits" in str(info.value)
    assert "account id" in str(info.value)


def test_symbol_when_unsafe_then_error_names_symbol() -> None:
    with pytest.raises(subjects.SubjectError, match=r"invalid symbol 'EUR\.USD'"):
        subjects.tick("acc-1", "EUR.USD")


def test_builders_when_valid_then_match_design_names() -> None:
    assert subjects.tick("acc-1", "EURUSD") == "mt5.acc-1.tick.EURUSD"
    assert subjects.position("acc-1", "closed") == "mt5.acc-1.position.closed"
    assert subjects.account_snapshot("acc-1") == "mt5.acc-1.account"
    assert subjects.health("acc-1") == "mt5.acc-1.health"
    assert subjects.order("acc-1", "executed") == "mt5.acc-1.order.executed"
    assert subjects.lifecycle("acc-1") == "mt5.acc-1.lifecycle"
    assert subjects.command("acc-1", "close_all") == "cmd.acc-1.close_all"
    assert subjects.commands_for("acc-1") == "cmd.acc-1.>"
    assert subjects.dlq("mt5.acc-1.account") == "dlq.mt5.acc-1.account"
    assert subjects.risk_events("agg-1", 3, "DrawdownBreached") == (
        "risk.events.agg-1.3.DrawdownBreached"
    )


def test_kind_builders_when_unknown_kind_then_rejected() -> None:
    with pytest.raises(subjects.SubjectError, match="position event kind"):
        subjects.position("acc-1", "deleted")
    with pytest.raises(subjects.SubjectError, match="command kind"):
        subjects.command("acc-1", "buy")


def test_parse_fact_subject_when_not_mt5_then_error() -> None:
    assert subjects.parse_fact_subject("mt5.a.tick.EURUSD") == ("a", "tick", "EURUSD")
    assert subjects.parse_fact_subject("mt5.a.account") == ("a", "account", None)
    with pytest.raises(subjects.SubjectError):
        subjects.parse_fact_subject("cmd.a.close_all")
