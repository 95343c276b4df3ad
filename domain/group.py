"""Account groups: what a group's accounts hold together, and what a group forbids. Pure.

A group is a trader's set of accounts (or a copier's followers). Its limits count over every
member: gross lots per symbol, open positions, and the sum of the members' headroom (equity
above the nearest loss floor). With `forbid_cross_hedge`, an order opposite to an open
position on another account of the group is denied: FTMO's forbidden practices name
"simultaneously entering into opposite positions" across connected accounts.

A `GroupView` is built from the member aggregates at the moment of a decision (engine/
decider.py) and never stored: the members' recorded state is the group's state, so a replay
of the whole log rebuilds it identically.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from domain.money import ZERO

Position = Mapping[str, Any]


@dataclass(frozen=True)
class GroupRules:
    """A group as each member's rules carry it (recorded with them, so replays see it)."""

    name: str
    accounts: tuple[str, ...]
    max_lots_per_symbol: Decimal | None = None
    max_positions: int | None = None
    min_headroom: Decimal | None = None
    """The members' summed headroom (equity above each one's nearest floor) may not fall
    below this: opening is denied while it does."""
    forbid_cross_hedge: bool = False


@dataclass(frozen=True, slots=True)
class Member:
    """One member account as the group sees it: its open positions and its headroom."""

    account_id: str
    positions: tuple[Position, ...]
    headroom: Decimal | None
    """Equity minus its nearest floor; None before its first snapshot."""


@dataclass(frozen=True, slots=True)
class GroupView:
    """A group at one moment, seen from `account_id`, built from its registered members'
    aggregates (`members` includes `account_id`'s own; never stored)."""

    rules: GroupRules
    account_id: str
    members: tuple[Member, ...]

    def others(self) -> tuple[Member, ...]:
        return tuple(m for m in self.members if m.account_id != self.account_id)

    def positions(self) -> Iterable[Position]:
        return (p for m in self.members for p in m.positions)

    def symbol_lots(self, symbol: str) -> Decimal:
        """Gross lots open on `symbol` over every member."""
        return sum((p["volume"] for p in self.positions() if p["symbol"] == symbol), ZERO)

    def position_count(self) -> int:
        return sum(len(m.positions) for m in self.members)

    def headroom(self) -> Decimal | None:
        """The members' summed headroom; None while one of them has no snapshot yet."""
        total = ZERO
        for member in self.members:
            if member.headroom is None:
                return None
            total += member.headroom
        return total


@dataclass(frozen=True, slots=True)
class Opposite:
    """An open position on another account of the group, opposite to a side on a symbol."""

    account_id: str
    identifier: int
    symbol: str
    side: str
    volume: Decimal

    def describe(self) -> str:
        return (
            f"account {self.account_id} holds {self.side} {self.volume} {self.symbol}"
            f" (position {self.identifier})"
        )


def opposite_exposure(view: GroupView, symbol: str, side: str) -> tuple[Opposite, ...]:
    """Positions on other members opposite to `side` on `symbol`, in member then id order."""
    found: list[Opposite] = []
    for member in view.others():
        matching = [p for p in member.positions if p["symbol"] == symbol and p["side"] != side]
        for p in sorted(matching, key=lambda p: int(p["identifier"])):
            ident = int(p["identifier"])
            found.append(Opposite(member.account_id, ident, symbol, p["side"], p["volume"]))
    return tuple(found)


def cross_hedge_reasons(view: GroupView, symbol: str, side: str) -> list[str]:
    """Why an order opening `side` on `symbol` is a hedge across the group (none: allowed)."""
    if not view.rules.forbid_cross_hedge:
        return []
    return [
        f"cross-hedge in group {view.rules.name}: {side} {symbol} opposite to {o.describe()}"
        for o in opposite_exposure(view, symbol, side)
    ]


def limit_reasons(view: GroupView, symbol: str, volume: Decimal) -> list[str]:
    """Group limits an order opening `volume` on `symbol` would break (none: within)."""
    rules = view.rules
    reasons: list[str] = []
    if rules.max_lots_per_symbol is not None:
        lots = view.symbol_lots(symbol) + volume
        if lots > rules.max_lots_per_symbol:
            reasons.append(
                f"group {rules.name}: lots {lots} on {symbol} > max_lots_per_symbol"
                f" {rules.max_lots_per_symbol}"
            )
    if rules.max_positions is not None:
        count = view.position_count() + 1
        if count > rules.max_positions:
            reasons.append(
                f"group {rules.name}: positions {count} > max_positions {rules.max_positions}"
            )
    if rules.min_headroom is not None:
        headroom = view.headroom()
        if headroom is None:
            reasons.append(f"group {rules.name}: headroom unknown (a member has no snapshot)")
        elif headroom < rules.min_headroom:
            reasons.append(
                f"group {rules.name}: headroom {headroom} < min_headroom {rules.min_headroom}"
            )
    return reasons


def order_reasons(view: GroupView, symbol: str, side: str, volume: Decimal) -> list[str]:
    """Everything the group forbids about an order opening exposure on `view.account_id`."""
    return cross_hedge_reasons(view, symbol, side) + limit_reasons(view, symbol, volume)


def broken_limits(view: GroupView) -> list[tuple[str, str, str]]:
    """(limit, value, bound) of each group count limit the open positions exceed now."""
    rules = view.rules
    broken: list[tuple[str, str, str]] = []
    if rules.max_lots_per_symbol is not None:
        for symbol in sorted({p["symbol"] for p in view.positions()}):
            lots = view.symbol_lots(symbol)
            if lots > rules.max_lots_per_symbol:
                broken.append((f"max_lots_per_symbol {symbol}", str(lots),
                               str(rules.max_lots_per_symbol)))  # fmt: skip
    if rules.max_positions is not None and view.position_count() > rules.max_positions:
        broken.append(("max_positions", str(view.position_count()), str(rules.max_positions)))
    return broken
