"""The position rules of `AccountRisk`: tracking, limits on open and modify, and closing what
a terminal let through against the trading state (domain/position_limits.py has the checks)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from domain import events as ev
from domain.account_base import HOLDING, AccountBase
from domain.errors import (
    DuplicatePosition,
    InvalidFact,
    UnknownPosition,
)
from domain.inputs import (
    ClosedPosition,
    FactRef,
    PositionState,
)
from domain.money import CENT, ZERO
from domain.position_limits import (
    Violation,
    net_volume,
    portfolio_risk,
    violations_on_modify,
    violations_on_open,
)
from domain.trading_state import (
    TradingState,
    most_severe,
)


class PositionRules(AccountBase):
    def observe_opened(self, position: PositionState, at: FactRef) -> None:
        """Track a new position and enforce the position limits on it."""
        self._check_position(position)
        key = str(position.identifier)
        if key in self._positions:
            raise DuplicatePosition(
                f"account {self.account_id}: position {position.identifier} is already open"
            )
        net_before = net_volume(self._positions.values(), position.symbol)
        state = self._state
        self._record(ev.PositionTracked, at, position=_position_dict(position, at))
        tracked = self._positions[key]
        found = violations_on_open(self.rules.position_limits, self._positions, tracked)
        found.extend(self._portfolio_violations())
        self._enforce(found, tracked, at)
        self._enforce_state(state, tracked, net_before, at)

    def observe_modified(self, position: PositionState, at: FactRef) -> None:
        """Follow a changed position (volume, SL, TP) and enforce limits it newly breaks."""
        self._check_position(position)
        old = self._tracked(position.identifier)
        new = _position_dict(position, at)
        if all(old[k] == new[k] for k in ("volume", "sl", "tp", "price_open", "symbol", "side")):
            return
        new["opened_seq"] = old["opened_seq"]
        net_before = net_volume(self._positions.values(), position.symbol)
        state = self._state
        self._record(ev.PositionUpdated, at, position=new)
        tracked = self._positions[str(position.identifier)]
        found = violations_on_modify(self.rules.position_limits, self._positions, old, tracked)
        if new["sl"] != old["sl"] or new["volume"] > old["volume"]:
            found.extend(self._portfolio_violations())
        self._enforce(found, tracked, at)
        if new["volume"] > old["volume"] or new["side"] != old["side"]:
            self._enforce_state(state, tracked, net_before, at)

    def _enforce_state(
        self, state: TradingState, position: dict[str, Any], net_before: Decimal, at: FactRef
    ) -> None:
        """A real terminal ignores mtq's trading state: close what it let through at once.

        `state` is the one the position appeared in: HALTED closes any position that appears
        or grows; REDUCING closes one that made the symbol's net exposure larger.
        """
        if position.get("closing") is not None or state == "ACTIVE":
            return
        net_after = net_volume(self._positions.values(), position["symbol"])
        if state == "HALTED":
            reason = "opened_while_halted"
        elif abs(net_after) > abs(net_before):
            reason = "increases_exposure_while_reducing"
        else:
            return
        self._record(
            ev.PositionCloseOrdered,
            at,
            command_id=self._next_command_id(),
            ticket=position["ticket"],
            identifier=position["identifier"],
            volume=position["volume"],
            reason=reason,
        )

    def observe_closed(self, closed: ClosedPosition, at: FactRef) -> None:
        """Stop tracking a closed position."""
        position = closed.position
        self._tracked(position.identifier)
        for name, value in (("close_price", closed.close_price), ("realized", closed.realized)):
            if not value.is_finite():
                raise InvalidFact(f"account {self.account_id}: {name} {value} is not finite")
        self._record(
            ev.PositionReleased,
            at,
            identifier=position.identifier,
            ticket=position.ticket,
            symbol=position.symbol,
            realized=closed.realized.quantize(CENT),
            close_price=closed.close_price,
            deal_reason=closed.deal_reason,
        )

    def _tracked(self, identifier: int) -> dict[str, Any]:
        found = self._positions.get(str(identifier))
        if found is None:
            raise UnknownPosition(f"account {self.account_id}: position {identifier} is not open")
        return found

    def _check_position(self, position: PositionState) -> None:
        for name in ("volume", "price_open", "sl", "tp", "profit", "swap"):
            value: Decimal = getattr(position, name)
            if not value.is_finite():
                raise InvalidFact(
                    f"account {self.account_id}: position {name} {value} is not finite"
                )
        if (
            position.volume <= ZERO
            or position.price_open < ZERO
            or position.sl < ZERO
            or position.tp < ZERO
        ):
            raise InvalidFact(
                f"account {self.account_id}: position {position.identifier} has a non-positive "
                f"volume {position.volume} or a negative price"
            )
        if position.side not in ("buy", "sell"):
            raise InvalidFact(f"account {self.account_id}: side {position.side!r}")

    def _portfolio_violations(self) -> list[Violation]:
        rules = self.rules
        equity = self._equity
        if equity is None:
            return []
        risk = portfolio_risk(rules, self._positions.values())
        limit = (equity * rules.portfolio_risk_percent / 100).quantize(CENT)
        if risk <= limit:
            return []
        return [
            Violation(
                "portfolio_risk",
                str(risk),
                f"portfolio_risk_percent {rules.portfolio_risk_percent} of equity "
                f"{equity} = {limit}",
                rules.portfolio_action,
            )
        ]

    def _enforce(self, found: list[Violation], position: dict[str, Any], at: FactRef) -> None:
        if not found:
            return
        for v in found:
            self._record(
                ev.PositionLimitViolated,
                at,
                rule=v.rule,
                identifier=position["identifier"],
                ticket=position["ticket"],
                symbol=position["symbol"],
                value=v.value,
                limit=v.limit,
                action=v.action,
                holds=HOLDING.get(v.action),
            )
        actions = {v.action for v in found}
        reason = "; ".join(v.reason for v in found)
        if "liquidate" in actions:
            self._liquidate("position_limits", reason, at)
            return
        if "close_position" in actions and position.get("closing") is None:
            self._record(
                ev.PositionCloseOrdered,
                at,
                command_id=self._next_command_id(),
                ticket=position["ticket"],
                identifier=position["identifier"],
                volume=position["volume"],
                reason=reason,
            )
        held = [HOLDING[a] for a in actions if a in HOLDING]
        if held:
            self._hold(most_severe(held), reason, at)


def _position_dict(position: PositionState, at: FactRef) -> dict[str, Any]:
    return {
        "identifier": position.identifier,
        "ticket": position.ticket,
        "symbol": position.symbol,
        "side": position.side,
        "volume": position.volume,
        "price_open": position.price_open,
        "sl": position.sl,
        "tp": position.tp,
        "profit": position.profit,
        "swap": position.swap,
        "magic": position.magic,
        "comment": position.comment,
        "reason": position.reason,
        "opened_seq": at.seq,
        "closing": None,
    }
