"""Account groups: pure group logic, pre-trade across members, and what a terminal let through.

FTMO's forbidden practices name "simultaneously entering into opposite positions" across
connected accounts: a group with `forbid_cross_hedge` denies such an order at pre-trade and
records `CrossHedgeDetected` when one appears anyway.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from bus import subjects
from bus.codec import encode
from bus.schemas import PositionOpened
from config.loader import load_config, validate_files
from domain import FactRef, OrderRequest, RiskRules
from domain.group import (
    GroupRules,
    GroupView,
    Member,
    cross_hedge_reasons,
    limit_reasons,
    opposite_exposure,
)
from domain.inputs import Side
from engine.decider import Answered, Applied, Decider
from engine.messages import CheckIn
from engine.rules import rules_for
from tests.unit.test_domain_support import T0, D, names, quote, rules
from tests.unit.test_engine_decider import snapshot

ACCOUNT = "server: s, symbols: [{name: EURUSD}], risk: {initial_capital: 100000}"
TRADER = GroupRules("trader-1", ("a-1", "a-2"), forbid_cross_hedge=True)


def held(
    identifier: int, side: str, volume: str = "0.1", symbol: str = "EURUSD"
) -> dict[str, object]:
    return {"identifier": identifier, "symbol": symbol, "side": side, "volume": D(volume)}


def view(group: GroupRules, *members: Member, account_id: str = "a-1") -> GroupView:
    return GroupView(group, account_id, members)


def test_cross_hedge_when_another_account_holds_the_opposite_side_then_named() -> None:
    group = view(TRADER, Member("a-1", (), D(100)), Member("a-2", (held(7, "buy"),), D(100)))
    assert cross_hedge_reasons(group, "EURUSD", "sell") == [
        "cross-hedge in group trader-1: sell EURUSD opposite to account a-2 holds buy 0.1"
        " EURUSD (position 7)"
    ]
    assert cross_hedge_reasons(group, "EURUSD", "buy") == []  # same side: no hedge
    assert cross_hedge_reasons(group, "XAUUSD", "sell") == []  # other symbol
    allowed = view(replace(TRADER, forbid_cross_hedge=False), *group.members)
    assert cross_hedge_reasons(allowed, "EURUSD", "sell") == []


def test_cross_hedge_when_own_account_holds_the_opposite_then_not_a_group_matter() -> None:
    group = view(TRADER, Member("a-1", (held(3, "buy"),), D(100)), Member("a-2", (), D(100)))
    assert opposite_exposure(group, "EURUSD", "sell") == ()


def test_group_limits_when_sums_over_members_exceed_then_each_named() -> None:
    group = GroupRules(
        "g", ("a-1", "a-2"), max_lots_per_symbol=D("0.3"), max_positions=2, min_headroom=D(500)
    )
    members = (
        Member("a-1", (held(1, "buy", "0.2"),), D(300)),
        Member("a-2", (held(2, "buy", "0.1"),), D(199)),
    )
    assert limit_reasons(view(group, *members), "EURUSD", D("0.1")) == [
        "group g: lots 0.4 on EURUSD > max_lots_per_symbol 0.3",
        "group g: positions 3 > max_positions 2",
        "group g: headroom 499 < min_headroom 500",
    ]
    assert limit_reasons(view(group, *members), "XAUUSD", D("0.1"))[0].startswith(
        "group g: positions"
    )
    unknown = (members[0], Member("a-2", (), None))
    assert "headroom unknown" in limit_reasons(view(group, *unknown), "EURUSD", D("0.01"))[-1]


def grouped(group: GroupRules = TRADER) -> Decider:
    decider = Decider()
    for account_id in group.accounts:
        decider.configure(account_id, rules(group=group), FactRef(0, T0))
    for seq, account_id in enumerate(group.accounts, start=1):
        decider.decide(seq, *snapshot(account_id, 100_000, T0))
    decider.collect()
    return decider


def opened(account_id: str, identifier: int, side: Side, volume: float = 0.1) -> tuple[str, bytes]:
    fact = PositionOpened(
        account_id=account_id, identifier=identifier, ticket=identifier, symbol="EURUSD",
        side=side, volume=volume, price_open=1.1, price_current=1.1, reason="client",
        time_msc=int((T0 + timedelta(minutes=1)).timestamp() * 1000),
    )  # fmt: skip
    return subjects.position(account_id, "opened"), encode(fact)


def check(decider: Decider, account_id: str, side: str, volume: str = "0.1") -> Answered:
    order = OrderRequest("EURUSD", side, D(volume), D("1.1"), client_order_id=f"{account_id}-o")  # type: ignore[arg-type]
    at = FactRef(decider.last_seq, T0 + timedelta(minutes=2))
    outcome = decider.handle(CheckIn(account_id, order, quote("EURUSD", at.time), at))
    assert isinstance(outcome, Answered)
    return outcome


def test_pretrade_when_order_opposite_to_another_members_position_then_denied() -> None:
    decider = grouped()
    decider.decide(10, *opened("a-2", 7, "buy"))
    denied = check(decider, "a-1", "sell")
    assert not denied.answer.approved
    assert denied.answer.reasons == (
        "cross-hedge in group trader-1: sell EURUSD opposite to account a-2 holds buy 0.1"
        " EURUSD (position 7)",
    )
    assert denied.answer.limits["group"] == "trader-1"
    assert check(decider, "a-1", "buy").answer.approved


def test_pretrade_when_order_reduces_own_position_then_approved_despite_group() -> None:
    decider = grouped()
    decider.decide(10, *opened("a-1", 3, "buy"))
    decider.decide(11, *opened("a-2", 7, "buy"))
    assert check(decider, "a-1", "sell").answer.approved  # closing is never refused


def test_decider_when_a_hedge_appears_anyway_then_cross_hedge_detected_on_the_opener() -> None:
    decider = grouped()
    decider.decide(10, *opened("a-2", 7, "buy"))
    outcome = decider.decide(11, *opened("a-1", 8, "sell", 0.2))
    assert isinstance(outcome, Applied)
    detected = [e for e in outcome.events if type(e).__name__ == "CrossHedgeDetected"]
    assert len(detected) == 1
    event = detected[0]
    assert (event.account_id, event.group, event.identifier, event.side) == (
        "a-1", "trader-1", 8, "sell",
    )  # fmt: skip
    assert event.opposite == [
        {"account_id": "a-2", "identifier": 7, "side": "buy", "volume": "0.1"}
    ]
    assert "opposite to account a-2 holds buy 0.1 EURUSD (position 7)" in event.reason


def test_decider_when_group_limit_exceeded_by_a_fact_then_group_limit_violated() -> None:
    decider = grouped(GroupRules("g", ("a-1", "a-2"), max_positions=1))
    decider.decide(10, *opened("a-2", 7, "buy"))
    denied = check(decider, "a-1", "buy")
    assert denied.answer.reasons == ("group g: positions 2 > max_positions 1",)
    outcome = decider.decide(11, *opened("a-1", 8, "buy"))
    assert isinstance(outcome, Applied)
    assert "GroupLimitViolated" in names(list(outcome.events))
    assert "CrossHedgeDetected" not in names(list(outcome.events))


def test_decider_when_headroom_sum_below_minimum_then_opening_denied() -> None:
    # each account's nearest floor is the daily one, 95,000 (5% of 100,000)
    decider = grouped(GroupRules("g", ("a-1", "a-2"), min_headroom=D(8_000)))
    answer = check(decider, "a-1", "buy").answer
    assert answer.approved, answer.reasons  # 5,000 + 5,000 = 10,000
    decider.decide(5, *snapshot("a-2", 97_000, T0 + timedelta(seconds=30)))
    answer = check(decider, "a-1", "buy").answer
    assert answer.reasons == ("group g: headroom 7000.00 < min_headroom 8000",)


def test_rules_when_group_set_then_round_trip_and_absent_group_left_out() -> None:
    with_group = rules(group=replace(TRADER, max_lots_per_symbol=D("1.5"), min_headroom=D(10)))
    assert RiskRules.from_dict(with_group.to_dict()) == with_group
    assert "group" not in rules().to_dict()


def write(tmp_path: Path, groups: str) -> Path:
    path = tmp_path / "mtq.yaml"
    path.write_text(
        "accounts:\n"
        f"  - {{id: a-1, login: 1, {ACCOUNT}}}\n"
        f"  - {{id: a-2, login: 2, {ACCOUNT}}}\n"
        f"  - {{id: a-3, login: 3, {ACCOUNT}}}\n" + groups
    )
    return path


def test_config_when_groups_given_then_each_member_carries_the_group(tmp_path: Path) -> None:
    path = write(tmp_path, (
        "groups:\n"
        "  - name: trader-1\n"
        "    accounts: [a-1, a-2]\n"
        "    forbid_cross_hedge: true\n"
        "    limits: {max_lots_per_symbol: 2, max_positions: 5, min_headroom: 1000}\n"
    ))  # fmt: skip
    config = load_config(path)
    group = config.group_of("a-2")
    assert group is not None
    assert config.group_of("a-3") is None
    assert rules_for(config.account("a-2"), group).group == GroupRules(
        "trader-1", ("a-1", "a-2"), D(2), 5, D("1000.00"), forbid_cross_hedge=True
    )


@pytest.mark.parametrize(
    ("groups", "rule", "text"),
    [
        ("  - {name: g, accounts: [a-1, nobody]}\n", "unknown_account", "'nobody'"),
        (
            "  - {name: g, accounts: [a-1, a-2]}\n  - {name: h, accounts: [a-3, a-1]}\n",
            "account_in_two_groups",
            "already in group 'g'",
        ),
        (
            "  - {name: g, accounts: [a-1]}\n  - {name: g, accounts: [a-2]}\n",
            "duplicate_group",
            "defined twice",
        ),
    ],
)
def test_config_when_group_invalid_then_error_at_its_line(
    tmp_path: Path, groups: str, rule: str, text: str
) -> None:
    result = validate_files(write(tmp_path, "groups:\n" + groups))
    found = [e for e in result.errors if e.rule == rule]
    assert found, result.errors
    assert text in found[0].message
    assert found[0].line is not None
    assert found[0].line >= 5
