"""The balance at the account's last daily reset, rebuilt from the terminal's deal history.

An account first seen mid-day (or after the agent was down over midnight) must still anchor
its day where the firm does: on the balance at the reset instant. Every deal since that
instant moved the balance by its profit, commission, swap and fee, so the balance then is
the balance now minus all of them. Money paid in since (a deposit, credit or bonus: a
balance operation that added money) is taken as already there at the reset, the stricter
reading: it raises the anchor, never lowers it. Money paid out since counts as moved. The
equity then cannot be rebuilt (the floating P/L at that instant is gone): not claimed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Final

from agents.terminal.mt5 import constants as c
from agents.terminal.mt5.structures import TradeDeal
from domain.tradingday import trading_day

PAID_IN: Final = frozenset({c.DEAL_TYPE_BALANCE, c.DEAL_TYPE_CREDIT, c.DEAL_TYPE_BONUS})
"""Balance operations that are not trading: money paid in by them is not today's result."""
WINDOW: Final = timedelta(days=2)
"""Deals are asked for this far either side of the range, then filtered by their UTC time:
whatever convention a terminal uses for `date_from` (server or UTC time), none is missed."""


def balance_at(
    balance: float, deals: Iterable[TradeDeal], since_utc_msc: int, to_utc: Callable[[int], int]
) -> float:
    """`balance` minus what every deal at or after `since_utc_msc` (UTC) added to it."""
    moved = 0.0
    for deal in deals:
        if to_utc(deal.time_msc) < since_utc_msc:
            continue
        change = deal.profit + deal.commission + deal.swap + deal.fee
        if deal.type in PAID_IN and change > 0:
            continue
        moved += change
    return round(balance - moved, 2)


def last_reset(now: datetime, reset_time: str, timezone: str) -> datetime:
    """The instant the trading day containing `now` started."""
    return trading_day(now, reset_time, timezone).start
