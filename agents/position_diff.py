"""Turn successive `positions_get()` snapshots into opened / modified / closed changes."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec

from bus.codec import fact_msg_id
from bus.schemas import PositionClosed, PositionModified, PositionOpened
from bus.schemas.base import DealReason, PositionReason, Side

POSITION_REASONS: Final[dict[int, PositionReason]] = {
    0: "client",
    1: "mobile",
    2: "web",
    3: "expert",
}
DEAL_REASONS: Final[dict[int, DealReason]] = {
    0: "client",
    1: "mobile",
    2: "web",
    3: "expert",
    4: "sl",
    5: "tp",
    6: "so",
    7: "rollover",
    8: "vmargin",
    9: "split",
}
# Fields whose change is a PositionModified fact; price and profit moves alone are not.
TRACKED_FIELDS: Final = ("volume", "sl", "tp")
DEAL_ENTRY_IN: Final = 0


class PositionRecord(msgspec.Struct, frozen=True, kw_only=True):
    """What the agent remembers of one open position (also stored in its SQLite file)."""

    ticket: int
    identifier: int
    symbol: str
    side: Side
    volume: float
    price_open: float
    price_current: float
    sl: float = 0.0
    tp: float = 0.0
    profit: float = 0.0
    swap: float = 0.0
    magic: int = 0
    comment: str = ""
    reason: PositionReason = "unknown"
    time_msc: int = 0
    time_update_msc: int = 0


_encoder: Final = msgspec.json.Encoder()
_decoder: Final = msgspec.json.Decoder(PositionRecord)


def encode_record(record: PositionRecord) -> bytes:
    return _encoder.encode(record)


def decode_record(data: bytes) -> PositionRecord:
    return _decoder.decode(data)


def record_from_terminal(pos: Any) -> PositionRecord:
    """Build a record from a `TradePosition` named tuple (real terminal or simulator)."""
    return PositionRecord(
        ticket=int(pos.ticket),
        identifier=int(getattr(pos, "identifier", pos.ticket) or pos.ticket),
        symbol=str(pos.symbol),
        side="sell" if int(pos.type) == 1 else "buy",
        volume=float(pos.volume),
        price_open=float(pos.price_open),
        price_current=float(pos.price_current),
        sl=float(pos.sl or 0.0),
        tp=float(pos.tp or 0.0),
        profit=float(pos.profit or 0.0),
        swap=float(pos.swap or 0.0),
        magic=int(pos.magic or 0),
        comment=str(pos.comment or ""),
        reason=POSITION_REASONS.get(int(pos.reason), "unknown"),
        time_msc=int(pos.time_msc),
        time_update_msc=int(getattr(pos, "time_update_msc", 0) or 0),
    )


@dataclass
class PositionChanges:
    opened: list[PositionRecord] = field(default_factory=list)
    modified: list[tuple[PositionRecord, tuple[str, ...]]] = field(default_factory=list)
    closed: list[PositionRecord] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.opened or self.modified or self.closed)


def changed_fields(before: PositionRecord, after: PositionRecord) -> tuple[str, ...]:
    return tuple(name for name in TRACKED_FIELDS if getattr(before, name) != getattr(after, name))


def diff_positions(
    previous: Mapping[int, PositionRecord], current: Iterable[PositionRecord]
) -> PositionChanges:
    """Compare the last known positions with a new snapshot, by ticket.

    Closed positions are reported as last seen (their close price comes from deals).
    """
    changes = PositionChanges()
    seen: set[int] = set()
    for record in current:
        seen.add(record.ticket)
        before = previous.get(record.ticket)
        if before is None:
            changes.opened.append(record)
            continue
        changed = changed_fields(before, record)
        if changed:
            changes.modified.append((record, changed))
    changes.closed.extend(rec for ticket, rec in previous.items() if ticket not in seen)
    return changes


def _fields(account_id: str, record: PositionRecord) -> dict[str, Any]:
    return {
        "account_id": account_id,
        "ticket": record.ticket,
        "identifier": record.identifier,
        "symbol": record.symbol,
        "side": record.side,
        "volume": record.volume,
        "price_open": record.price_open,
        "price_current": record.price_current,
        "sl": record.sl,
        "tp": record.tp,
        "profit": record.profit,
        "swap": record.swap,
        "magic": record.magic,
        "comment": record.comment,
        "reason": record.reason,
        "time_msc": record.time_msc,
    }


def opened_fact(account_id: str, record: PositionRecord) -> tuple[str, PositionOpened]:
    """The fact and its deterministic Nats-Msg-Id (one per ticket)."""
    msg_id = fact_msg_id(account_id, "position.opened", record.ticket)
    return msg_id, PositionOpened(**_fields(account_id, record))


def modified_fact(
    account_id: str, record: PositionRecord, changed: tuple[str, ...]
) -> tuple[str, PositionModified]:
    """Msg id: ticket, update time and a digest of the new values (several edits per ms)."""
    digest = hashlib.blake2s(
        f"{record.volume}|{record.sl}|{record.tp}".encode(), digest_size=4
    ).hexdigest()
    msg_id = fact_msg_id(
        account_id, "position.modified", f"{record.ticket}-{record.time_update_msc}-{digest}"
    )
    return msg_id, PositionModified(**_fields(account_id, record), changed=changed)


@dataclass(frozen=True)
class CloseDeal:
    price: float
    reason: DealReason
    ticket: int | None
    time_msc: int
    profit: float | None = None
    swap: float | None = None


def close_deal_from_history(deals: Iterable[Any] | None) -> CloseDeal | None:
    """The last exit deal of a position from `history_deals_get(position=...)`, if any."""
    exits = [d for d in (deals or ()) if int(getattr(d, "entry", DEAL_ENTRY_IN)) != DEAL_ENTRY_IN]
    if not exits:
        return None
    last = max(exits, key=lambda d: (int(d.time_msc), int(d.ticket)))
    total_profit = sum(float(getattr(d, "profit", 0.0) or 0.0) for d in exits)
    return CloseDeal(
        price=float(last.price),
        reason=DEAL_REASONS.get(int(getattr(last, "reason", -1)), "unknown"),
        ticket=int(last.ticket),
        time_msc=int(last.time_msc),
        profit=total_profit,
        swap=float(getattr(last, "swap", 0.0) or 0.0),
    )


def closed_fact(
    account_id: str, record: PositionRecord, deal: CloseDeal | None, now_msc: int
) -> tuple[str, PositionClosed]:
    """Closed fact from the last seen record and its exit deal (fallbacks if none found)."""
    fields = _fields(account_id, record)
    if deal is not None and deal.profit is not None:
        fields["profit"] = deal.profit
    msg_id = fact_msg_id(account_id, "position.closed", record.ticket)
    return msg_id, PositionClosed(
        **fields,
        close_price=deal.price if deal else record.price_current,
        deal_reason=deal.reason if deal else "unknown",
        deal_ticket=deal.ticket if deal else None,
        close_time_msc=deal.time_msc if deal else now_msc,
    )
