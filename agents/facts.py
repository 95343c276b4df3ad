"""The one translator from MT5 data to wire facts and their deterministic message ids."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import msgspec

from agents.position_diff import PositionRecord
from agents.server_clock import ServerClock
from agents.terminal.mt5 import constants as c
from agents.terminal.mt5.structures import AccountInfo, TradeDeal
from bus.codec import fact_msg_id
from bus.schemas import AccountSnapshot, PositionClosed, PositionModified, PositionOpened
from bus.schemas.base import DealReason, from_msc

DEAL_REASONS: Final[dict[int, DealReason]] = {
    c.DEAL_REASON_CLIENT: "client",
    c.DEAL_REASON_MOBILE: "mobile",
    c.DEAL_REASON_WEB: "web",
    c.DEAL_REASON_EXPERT: "expert",
    c.DEAL_REASON_SL: "sl",
    c.DEAL_REASON_TP: "tp",
    c.DEAL_REASON_SO: "so",
    c.DEAL_REASON_ROLLOVER: "rollover",
    c.DEAL_REASON_VMARGIN: "vmargin",
    c.DEAL_REASON_SPLIT: "split",
}
SNAPSHOT_FIELDS: Final = ("balance", "equity", "margin", "margin_free", "margin_level", "profit")


def _position_fields(account_id: str, record: PositionRecord, clock: ServerClock) -> dict[str, Any]:
    fields = msgspec.structs.asdict(record)
    del fields["time_update_msc"]
    fields["account_id"] = account_id
    fields["time_msc"] = clock.to_utc(record.time_msc)
    fields["server_time_msc"] = record.time_msc
    return fields


def opened_fact(
    account_id: str, record: PositionRecord, clock: ServerClock
) -> tuple[str, PositionOpened]:
    """The fact and its Nats-Msg-Id (one per position identifier)."""
    msg_id = fact_msg_id(account_id, "position.opened", record.identifier)
    return msg_id, PositionOpened(**_position_fields(account_id, record, clock))


def modified_fact(
    account_id: str, record: PositionRecord, changed: tuple[str, ...], clock: ServerClock
) -> tuple[str, PositionModified]:
    """Msg id: identifier, update time and a digest of the new values (several edits per ms)."""
    values = f"{record.ticket}|{record.volume}|{record.sl}|{record.tp}"
    digest = hashlib.blake2s(values.encode(), digest_size=4).hexdigest()
    source = f"{record.identifier}-{record.time_update_msc}-{digest}"
    msg_id = fact_msg_id(account_id, "position.modified", source)
    fields = _position_fields(account_id, record, clock)
    return msg_id, PositionModified(**fields, changed=changed)


@dataclass(frozen=True)
class CloseDeal:
    """A position's closing deal, with its realized P/L summed over all its deals."""

    price: float
    reason: DealReason
    ticket: int | None
    time_msc: int
    profit: float
    """profit + commission + swap + fee over every deal of the position."""
    swap: float = 0.0
    commission: float = 0.0
    fee: float = 0.0


_CLOSING_ENTRIES: Final = frozenset({c.DEAL_ENTRY_OUT, c.DEAL_ENTRY_OUT_BY})


def close_from_deals(deals: Iterable[TradeDeal] | None) -> CloseDeal | None:
    """From `history_deals_get(position=identifier)`: the closing deal and the position's
    realized P/L, or None while the newest deal is not an exit (DEAL_ENTRY_OUT / OUT_BY).

    A netting account's reversal (DEAL_ENTRY_INOUT) closes one side and opens the other: it
    never ends the position, but its profit is realized and counts in the total."""
    everything = list(deals or ())
    if not everything:
        return None
    last = max(everything, key=lambda d: (int(d.time_msc), int(d.ticket)))
    if int(last.entry) not in _CLOSING_ENTRIES:
        return None
    swap = sum(float(d.swap) for d in everything)
    commission = sum(float(d.commission) for d in everything)
    fee = sum(float(d.fee) for d in everything)
    gross = sum(float(d.profit) for d in everything)
    return CloseDeal(
        price=float(last.price),
        reason=DEAL_REASONS.get(int(last.reason), "unknown"),
        ticket=int(last.ticket),
        time_msc=int(last.time_msc),
        profit=round(gross + commission + swap + fee, 2),
        swap=round(swap, 2),
        commission=round(commission, 2),
        fee=round(fee, 2),
    )


def closed_fact(
    account_id: str,
    record: PositionRecord,
    deal: CloseDeal | None,
    now_utc_msc: int,
    clock: ServerClock,
) -> tuple[str, PositionClosed]:
    """Closed fact from the last seen record and its exit deal (fallbacks if none found)."""
    fields = _position_fields(account_id, record, clock)
    msg_id = fact_msg_id(account_id, "position.closed", record.identifier)
    if deal is None:
        return msg_id, PositionClosed(
            **fields, close_price=record.price_current, close_time_msc=now_utc_msc
        )
    fields.update(profit=deal.profit, swap=deal.swap)
    return msg_id, PositionClosed(
        **fields,
        close_price=deal.price,
        deal_reason=deal.reason,
        deal_ticket=deal.ticket,
        close_time_msc=clock.to_utc(deal.time_msc),
        server_close_time_msc=deal.time_msc,
        commission=deal.commission,
        fee=deal.fee,
    )


def snapshot_values(info: AccountInfo) -> tuple[float, ...]:
    return tuple(round(float(getattr(info, k)), 2) for k in SNAPSHOT_FIELDS)


def account_snapshot(
    account_id: str,
    info: AccountInfo,
    values: tuple[float, ...],
    time_ms: int,
    reset: tuple[datetime, float] | None = None,
) -> tuple[str, AccountSnapshot]:
    """The snapshot (stamped with the agent's UTC clock) and its msg id.

    `reset` is the last daily reset instant and the balance then (agents/reset_balance.py),
    sent with the first snapshot of a trading day.
    """
    balance, equity, margin, margin_free, margin_level, profit = values
    snapshot = AccountSnapshot(
        account_id=account_id,
        login=int(info.login),
        balance=balance,
        equity=equity,
        margin=margin,
        margin_free=margin_free,
        margin_level=margin_level,
        profit=profit,
        currency=str(info.currency),
        server=str(info.server),
        time=from_msc(time_ms),
        reset_at=None if reset is None else reset[0],
        reset_balance=None if reset is None else reset[1],
    )
    return fact_msg_id(account_id, "account", time_ms), snapshot
