"""The `order_send` requests for mtq's commands: opens, pending orders, closes, SL/TP."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Final

from agents.terminal.mt5 import constants as c
from agents.terminal.mt5.structures import Tick, TradePosition
from agents.terminal.mt5.symbol_info import SymbolInfo
from bus.schemas import ModifyPosition, PlaceOrder

MTQ_MAGIC: Final = 20_240_601
"""The magic number of every order mtq sends (closes and signals' orders alike)."""
DEVIATION_POINTS: Final = 20
_NOT_TOKEN: Final = re.compile(r"[^A-Za-z0-9]")

_PENDING_TYPES: Final = {
    ("buy", "limit"): c.ORDER_TYPE_BUY_LIMIT,
    ("sell", "limit"): c.ORDER_TYPE_SELL_LIMIT,
    ("buy", "stop"): c.ORDER_TYPE_BUY_STOP,
    ("sell", "stop"): c.ORDER_TYPE_SELL_STOP,
}


def filling_for(info: SymbolInfo | None) -> int:
    """The `type_filling` a market deal on this symbol must use.

    Request and Instant execution pick it themselves (FOK is sent). Market execution allows
    only the flags in `filling_mode` (FOK 1, IOC 2), never RETURN; Exchange execution allows
    RETURN besides. FOK is preferred (all or nothing), as MQL5's CTrade does.
    """
    if info is None:
        return c.ORDER_FILLING_FOK
    if info.filling_mode & c.SYMBOL_FILLING_FOK:
        return c.ORDER_FILLING_FOK
    if info.filling_mode & c.SYMBOL_FILLING_IOC:
        return c.ORDER_FILLING_IOC
    if info.trade_exemode == c.SYMBOL_TRADE_EXECUTION_EXCHANGE:
        return c.ORDER_FILLING_RETURN
    return c.ORDER_FILLING_FOK  # Market execution with no flag: the broker's 10030 is reported


def order_comment(command_id: str) -> str:
    """A short ASCII token naming the command: `mtq-` and 8 characters of its id (brokers
    refuse long or non-ASCII comments with -2 'Invalid "comment" argument')."""
    token = _NOT_TOKEN.sub("", command_id)[:8]
    return f"mtq-{token}" if token else "mtq"


def is_mtq_comment(comment: str) -> bool:
    """Whether a position, order or deal comment is one mtq wrote (`mtq-<8 characters>`)."""
    return comment.startswith("mtq-") and len(comment) == 12 and comment[4:].isalnum()


def expiration_server_s(expires_at: datetime, server_offset_s: int) -> int:
    """`expiration` for ORDER_TIME_SPECIFIED: seconds in the trade server's clock (MT5 times
    are the server's wall clock written as if it were UTC)."""
    return int(expires_at.timestamp()) + server_offset_s


def place_request(
    command: PlaceOrder, tick: Tick, filling: int, *, server_offset_s: int = 0
) -> dict[str, Any]:
    """A market deal at the current quote, or a pending limit/stop order at `price`."""
    buy = command.side == "buy"
    request: dict[str, Any] = {
        "symbol": command.symbol,
        "volume": float(command.volume),
        "deviation": int(command.deviation_points),
        "magic": MTQ_MAGIC,
        "comment": order_comment(command.command_id),
        "type_filling": filling,
        "sl": float(command.sl or 0.0),
        "tp": float(command.tp or 0.0),
    }
    if command.order_type == "market":
        request["action"] = c.TRADE_ACTION_DEAL
        request["type"] = c.ORDER_TYPE_BUY if buy else c.ORDER_TYPE_SELL
        request["price"] = float(tick.ask if buy else tick.bid)
        return request
    if command.price is None:
        raise ValueError(f"a {command.order_type} order needs a price")
    request["action"] = c.TRADE_ACTION_PENDING
    request["type"] = _PENDING_TYPES[(command.side, command.order_type)]
    request["price"] = float(command.price)
    if command.expires_at is not None:
        request["type_time"] = c.ORDER_TIME_SPECIFIED
        request["expiration"] = expiration_server_s(command.expires_at, server_offset_s)
    else:
        request["type_time"] = c.ORDER_TIME_GTC
    return request


def close_request(
    position: TradePosition, volume: float, tick: Tick, filling: int, command_id: str
) -> dict[str, Any]:
    """The opposite deal for `volume` of `position`, naming it so it never reverses it."""
    sell = int(position.type) == c.POSITION_TYPE_BUY
    return {
        "action": c.TRADE_ACTION_DEAL,
        "symbol": str(position.symbol),
        "volume": volume,
        "type": c.ORDER_TYPE_SELL if sell else c.ORDER_TYPE_BUY,
        "position": int(position.ticket),
        "price": float(tick.bid if sell else tick.ask),
        "deviation": DEVIATION_POINTS,
        "magic": MTQ_MAGIC,
        "comment": order_comment(command_id),
        "type_filling": filling,
    }


def modify_request(command: ModifyPosition, position: TradePosition) -> dict[str, Any]:
    """TRADE_ACTION_SLTP on the position (0 removes a level)."""
    return {
        "action": c.TRADE_ACTION_SLTP,
        "symbol": str(position.symbol),
        "position": int(position.ticket),
        "sl": float(command.sl or 0.0),
        "tp": float(command.tp or 0.0),
        "magic": MTQ_MAGIC,
    }
