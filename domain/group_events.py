"""The decisions of account groups on a member's aggregate, and the member's part of a group.

Pre-trade denies what a group forbids (domain/pretrade.py with domain/group.py). What a
terminal lets through anyway is recorded on the account whose position made it, after the
position's fact: `CrossHedgeDetected` (a position opposite to another member's open one, with
`forbid_cross_hedge`) and `GroupLimitViolated` (a group limit the members now exceed). Both
alert; neither closes anything (the firm judges the trader, not one position).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from domain.account_base import AccountBase
from domain.events import RiskEvent
from domain.group import GroupView, Member, Opposite, broken_limits, opposite_exposure
from domain.inputs import FactRef


class CrossHedgeDetected(RiskEvent):
    """Position `identifier` (`side` `volume` `symbol`) is opposite to open positions on
    other accounts of `group` (`opposite`: account_id, identifier, side, volume each)."""

    group: str
    identifier: int
    symbol: str
    side: str
    volume: Decimal
    opposite: list[dict[str, Any]]
    reason: str


class GroupLimitViolated(RiskEvent):
    """After position `identifier` the members of `group` hold `value` against `limit`."""

    group: str
    rule: str
    identifier: int
    value: str
    limit: str
    reason: str


class GroupMember(AccountBase):
    def group_member(self) -> Member:
        """This account as its group sees it: open positions and headroom above its
        nearest floor (None before a snapshot or without a floor)."""
        floors = self.thresholds
        equity = self._equity
        headroom = (
            None if equity is None or not floors else equity - max(t.floor for t in floors.values())
        )
        return Member(self.account_id, tuple(self._positions.values()), headroom)

    def observe_group(self, view: GroupView, identifier: int, at: FactRef) -> None:
        """Record a hedge across the group or a broken group limit that position
        `identifier` of this account made (nothing when it is no longer open)."""
        position = self._positions.get(str(identifier))
        if position is None:
            return
        group = view.rules
        opposite = opposite_exposure(view, position["symbol"], position["side"])
        if group.forbid_cross_hedge and opposite:
            shown = "; ".join(o.describe() for o in opposite)
            self._record(
                CrossHedgeDetected,
                at,
                group=group.name,
                identifier=identifier,
                symbol=position["symbol"],
                side=position["side"],
                volume=position["volume"],
                opposite=[_opposite_dict(o) for o in opposite],
                reason=f"cross-hedge in group {group.name}: position {identifier} "
                f"{position['side']} {position['volume']} {position['symbol']} opposite to {shown}",
            )
        for rule, value, limit in broken_limits(view):
            self._record(
                GroupLimitViolated,
                at,
                group=group.name,
                rule=rule,
                identifier=identifier,
                value=value,
                limit=limit,
                reason=f"group {group.name}: {rule} {value} > {limit} after position {identifier}",
            )


def _opposite_dict(o: Opposite) -> dict[str, Any]:
    return {"account_id": o.account_id, "identifier": o.identifier, "side": o.side,
            "volume": str(o.volume)}  # fmt: skip
