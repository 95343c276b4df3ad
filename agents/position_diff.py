"""Turn successive `positions_get()` snapshots into opened / modified / closed changes.

Positions are keyed by `identifier`, not `ticket`: brokers that charge swap by re-opening a
position give it a new ticket, while its identifier (the deals' `position_id`) stays. The
same holds on netting accounts (one position per symbol): a deal that adds to or reduces the
position changes its volume, a reversal its ticket, side and volume, all under one
identifier; only a deal that closes it (DEAL_ENTRY_OUT to zero) ends it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

import msgspec

from agents.terminal.mt5 import constants as c
from agents.terminal.mt5.structures import TradePosition
from bus.schemas.base import PositionReason, Side

POSITION_REASONS: Final[dict[int, PositionReason]] = {
    c.POSITION_REASON_CLIENT: "client",
    c.POSITION_REASON_MOBILE: "mobile",
    c.POSITION_REASON_WEB: "web",
    c.POSITION_REASON_EXPERT: "expert",
}
# Fields whose change is a PositionModified fact; price and profit moves alone are not.
# `side` changes on a netting account's reversal (one DEAL_ENTRY_INOUT deal: same
# identifier, the reversing order's ticket, the other side, the remaining volume).
TRACKED_FIELDS: Final = ("ticket", "side", "volume", "sl", "tp")


class PositionRecord(msgspec.Struct, frozen=True, kw_only=True):
    """What the agent remembers of one open position (also stored in its SQLite file).

    Times are the terminal's raw server times; `agents.facts` converts them to UTC.
    """

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


def record_from_terminal(pos: TradePosition) -> PositionRecord:
    """Build a record from a `TradePosition` named tuple (real terminal or simulator)."""
    return PositionRecord(
        ticket=int(pos.ticket),
        identifier=int(pos.identifier or pos.ticket),
        symbol=str(pos.symbol),
        side="sell" if int(pos.type) == c.POSITION_TYPE_SELL else "buy",
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
        time_update_msc=int(pos.time_update_msc or 0),
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
    """Compare the last known positions (by identifier) with a new snapshot.

    A new ticket under a known identifier is a modification (`changed` names "ticket"), not
    a close and an open. Closed positions are reported as last seen (their close price comes
    from deals).
    """
    changes = PositionChanges()
    seen: set[int] = set()
    for record in current:
        seen.add(record.identifier)
        before = previous.get(record.identifier)
        if before is None:
            changes.opened.append(record)
            continue
        changed = changed_fields(before, record)
        if changed:
            changes.modified.append((record, changed))
    changes.closed.extend(rec for key, rec in previous.items() if key not in seen)
    return changes
