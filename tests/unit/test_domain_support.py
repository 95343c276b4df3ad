"""Helpers for the domain tests: a scripted fact feed for one `AccountRisk` (no tests here)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from domain import (
    AccountRisk,
    AccountState,
    ClosedPosition,
    FactRef,
    MarketEvidence,
    OrderRequest,
    PositionState,
    PreTradeAnswer,
    RiskRules,
    SymbolSpec,
)
from domain.rules import DailyLossRule, MaxLossRule, PositionLimits

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
EURUSD = SymbolSpec(name="EURUSD", max_spread_pips=Decimal(3), stale_feed_seconds=30.0)
XAUUSD = SymbolSpec(
    name="XAUUSD",
    digits=2,
    point=Decimal("0.01"),
    contract_size=Decimal(100),
    tick_value=Decimal(1),
    tick_size=Decimal("0.01"),
)


def D(value: str | int) -> Decimal:
    return Decimal(value)


def rules(**changes: Any) -> RiskRules:
    """Rules with 100,000 initial capital, daily 5%/max 10% in UTC, alert nothing else."""
    base = RiskRules(
        initial_capital=D("100000.00"),
        daily_loss=DailyLossRule(),
        max_loss=MaxLossRule(),
        position_limits=PositionLimits(),
        symbols=(EURUSD, XAUUSD),
    )
    return replace(base, **changes)


def names(events: list[Any]) -> list[str]:
    return [type(e).__name__ for e in events]


class Feed:
    """Facts for one account with increasing sequence numbers; returns each call's events."""

    def __init__(self, risk_rules: RiskRules, start: datetime = T0, account_id: str = "acc-1"):
        self.time = start
        self.seq = 1
        self.account = AccountRisk.register(account_id, risk_rules, FactRef(1, start))
        self.log: list[Any] = list(self.account.collect_events())

    def ref(self, at: datetime | None = None, seconds: float = 1) -> FactRef:
        self.seq += 1
        self.time = at if at is not None else self.time + timedelta(seconds=seconds)
        return FactRef(self.seq, self.time)

    def collect(self) -> list[Any]:
        new = list(self.account.collect_events())
        self.log.extend(new)
        return new

    def snapshot(
        self,
        balance: str,
        equity: str | None = None,
        at: datetime | None = None,
        seconds: float = 1,
    ) -> list[Any]:
        state = AccountState(D(balance), D(equity if equity is not None else balance))
        self.account.observe_account(state, self.ref(at, seconds))
        return self.collect()

    def open(self, identifier: int, symbol: str = "EURUSD", **fields: Any) -> list[Any]:
        self.account.observe_opened(position(identifier, symbol, **fields), self.ref())
        return self.collect()

    def modify(self, identifier: int, symbol: str = "EURUSD", **fields: Any) -> list[Any]:
        self.account.observe_modified(position(identifier, symbol, **fields), self.ref())
        return self.collect()

    def close(self, identifier: int, symbol: str = "EURUSD", realized: str = "0") -> list[Any]:
        closed = ClosedPosition(position(identifier, symbol), D("1.1"), "client", D(realized))
        self.account.observe_closed(closed, self.ref())
        return self.collect()

    def check(
        self, symbol: str = "EURUSD", side: str = "buy", volume: str = "0.1", **fields: Any
    ) -> tuple[PreTradeAnswer, list[Any]]:
        market = fields.pop("market", quote(symbol, self.time))
        request = OrderRequest(
            symbol=symbol,
            side=side,  # type: ignore[arg-type]
            volume=D(volume),
            price=fields.pop("price", D("1.10000")),
            sl=fields.pop("sl", D(0)),
            tp=fields.pop("tp", D(0)),
            client_order_id=fields.pop("client_order_id", "c-1"),
        )
        answer = self.account.check_order(request, market, FactRef(self.seq, self.time))
        return answer, self.collect()

    def control(self, action: str, actor: str = "ops", reason: str = "test") -> list[Any]:
        self.account.control(action, reason, actor, FactRef(self.seq, self.time))  # type: ignore[arg-type]
        return self.collect()


def position(identifier: int, symbol: str = "EURUSD", **fields: Any) -> PositionState:
    values: dict[str, Any] = {
        "identifier": identifier,
        "ticket": identifier + 1000,
        "symbol": symbol,
        "side": "buy",
        "volume": D("0.1"),
        "price_open": D("1.10000"),
        "sl": D(0),
        "tp": D(0),
    }
    values.update(fields)
    return PositionState(**values)


def quote(
    symbol: str, time: datetime, bid: str = "1.10000", ask: str = "1.10010"
) -> MarketEvidence:
    return MarketEvidence(symbol, D(bid), D(ask), time)


def rebuild(events: list[Any]) -> AccountRisk:
    aggregate: Any = None
    for event in events:
        aggregate = event.mutate(aggregate)
    assert isinstance(aggregate, AccountRisk)
    return aggregate
