"""Turn wire facts into calls on the account's `AccountRisk`: the entry point's only job."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import assert_never

from bus.schemas import (
    AccountSnapshot,
    AgentHeartbeat,
    AgentLifecycleChanged,
    Fact,
    OrderExecuted,
    OrderRejected,
    PositionClosed,
    PositionModified,
    PositionOpened,
    TickReceived,
)
from bus.schemas.base import from_msc
from domain import (
    AccountRisk,
    AccountState,
    ClosedPosition,
    FactRef,
    PositionState,
    money,
)


def price(value: float) -> Decimal:
    """A quote as the exact decimal it was written with (floats print their shortest form)."""
    return Decimal(repr(value))


def position_state(fact: PositionOpened | PositionModified | PositionClosed) -> PositionState:
    return PositionState(
        identifier=fact.identifier,
        ticket=fact.ticket,
        symbol=fact.symbol,
        side=fact.side,
        volume=price(fact.volume),
        price_open=price(fact.price_open),
        sl=price(fact.sl),
        tp=price(fact.tp),
        profit=money(fact.profit),
        swap=money(fact.swap),
        magic=fact.magic,
        comment=fact.comment,
        reason=fact.reason,
    )


def account_state(fact: AccountSnapshot) -> AccountState:
    return AccountState(
        balance=money(fact.balance),
        equity=money(fact.equity),
        margin=money(fact.margin),
        margin_free=money(fact.margin_free),
        currency=fact.currency,
        reset_at=fact.reset_at,
        reset_balance=None if fact.reset_balance is None else money(fact.reset_balance),
        reset_equity=None if fact.reset_equity is None else money(fact.reset_equity),
    )


def fact_time(fact: Fact) -> datetime:
    """The UTC time a fact reports (position facts: their MT5 time in milliseconds)."""
    match fact:
        case PositionClosed():
            return from_msc(fact.close_time_msc)
        case PositionOpened() | PositionModified() | TickReceived():
            return from_msc(fact.time_msc)
        case (
            AccountSnapshot() | AgentHeartbeat() | OrderExecuted() | OrderRejected()
            | AgentLifecycleChanged()
        ):  # fmt: skip
            return fact.time
        case _:
            assert_never(fact)


def stamped_by_agent(fact: Fact) -> bool:
    """Whether the fact's time is the agent's UTC clock (the clock-skew limit's subject).

    Ticks, positions and deals carry MT5 server times the agent converts with the offset it
    measures from fresh ticks: until the first one they may be off by the broker's zone.
    """
    match fact:
        case (
            AccountSnapshot() | AgentHeartbeat() | OrderExecuted() | OrderRejected()
            | AgentLifecycleChanged()
        ):  # fmt: skip
            return True
        case _:
            return False


def apply_fact(account: AccountRisk, fact: Fact, seq: int) -> bool:
    """Call the aggregate for one fact; False when the fact is not one risk decides on."""
    match fact:
        case AccountSnapshot():
            account.observe_account(account_state(fact), FactRef(seq, fact.time))
        case PositionOpened():
            account.observe_opened(position_state(fact), FactRef(seq, from_msc(fact.time_msc)))
        case PositionModified():
            account.observe_modified(position_state(fact), FactRef(seq, from_msc(fact.time_msc)))
        case PositionClosed():
            closed = ClosedPosition(
                position=position_state(fact),
                close_price=price(fact.close_price),
                deal_reason=fact.deal_reason,
                realized=money(fact.profit + fact.swap + fact.commission + fact.fee),
            )
            account.observe_closed(closed, FactRef(seq, from_msc(fact.close_time_msc)))
        case OrderExecuted():
            ref = FactRef(seq, fact.time)
            account.observe_order_result(fact.command_id, True, fact.comment, ref)
        case OrderRejected():
            ref = FactRef(seq, fact.time)
            account.observe_order_result(fact.command_id, False, fact.comment, ref)
        case AgentHeartbeat():
            account.observe_clock(FactRef(seq, fact.time))
        case TickReceived() | AgentLifecycleChanged():
            return False
        case _:
            assert_never(fact)
    return True


def recall_fact(account: AccountRisk, fact: Fact, seq: int) -> None:
    """Restore what deciding `fact` kept in memory only (see `AccountRisk.recall_snapshot`)."""
    match fact:
        case AccountSnapshot():
            account.recall_snapshot(account_state(fact), FactRef(seq, fact.time))
        case _:
            pass
