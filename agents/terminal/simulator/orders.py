"""Parsing and checking `order_send` requests as the terminal does."""

from __future__ import annotations

from typing import Any

from agents.terminal.mt5 import constants as c
from agents.terminal.mt5.structures import TradeRequest
from agents.terminal.simulator.settings import SymbolSpec

_INT_FIELDS = (
    "action",
    "magic",
    "order",
    "deviation",
    "type",
    "type_filling",
    "type_time",
    "expiration",
    "position",
    "position_by",
)
_FLOAT_FIELDS = ("volume", "price", "stoplimit", "sl", "tp")


class InvalidRequest(ValueError):
    """A request key has the wrong type or is unknown (the terminal's 'Invalid "x" argument')."""

    def __init__(self, key: str) -> None:
        super().__init__(f'Invalid "{key}" argument')
        self.key = key


def parse_request(request: Any) -> TradeRequest:
    """Turn an `order_send` dict into a TradeRequest, rejecting unknown keys and bad types."""
    if not isinstance(request, dict):
        raise InvalidRequest("request")
    values: dict[str, Any] = {}
    for key, value in request.items():
        if key in _INT_FIELDS:
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidRequest(key)
            values[key] = value
        elif key in _FLOAT_FIELDS:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InvalidRequest(key)
            values[key] = float(value)
        elif key in ("symbol", "comment"):
            if not isinstance(value, str) or (key == "comment" and not comment_valid(value)):
                raise InvalidRequest(key)
            values[key] = value
        else:
            raise InvalidRequest(key)
    if "action" not in values:
        raise InvalidRequest("action")
    return TradeRequest(**values)


MAX_COMMENT = 31


def comment_valid(comment: str) -> bool:
    """The terminal's comment rule as field reports describe it: `order_send` returns None with
    (-2, 'Invalid "comment" argument') for long comments (40 characters; some 31-character
    ones with spaces) and non-ASCII text. The simulator is at least as strict: printable ASCII,
    at most 31 characters, and under 31 when there is a space."""
    if len(comment) > MAX_COMMENT or not comment.isascii() or not comment.isprintable():
        return False
    return len(comment) < MAX_COMMENT or " " not in comment


def filling_allowed(spec: SymbolSpec, type_filling: int) -> bool:
    """Whether a market deal's `type_filling` is accepted for the symbol (else 10030).

    Request and Instant execution choose the filling themselves. Under Market execution only
    the modes in `filling_mode` (FOK flag 1, IOC flag 2) are allowed, never RETURN; under
    Exchange execution RETURN is always allowed as well (MQL5 `CTrade::FillingCheck`).
    """
    exemode = spec.trade_exemode
    if exemode in (c.SYMBOL_TRADE_EXECUTION_REQUEST, c.SYMBOL_TRADE_EXECUTION_INSTANT):
        return True
    if type_filling == c.ORDER_FILLING_FOK:
        return bool(spec.filling_mode & c.SYMBOL_FILLING_FOK)
    if type_filling == c.ORDER_FILLING_IOC:
        return bool(spec.filling_mode & c.SYMBOL_FILLING_IOC)
    if type_filling == c.ORDER_FILLING_RETURN:
        return exemode == c.SYMBOL_TRADE_EXECUTION_EXCHANGE
    return False


def volume_valid(spec: SymbolSpec, volume: float) -> bool:
    if volume < spec.volume_min - 1e-9 or volume > spec.volume_max + 1e-9:
        return False
    steps = volume / spec.volume_step
    return abs(steps - round(steps)) < 1e-6


def stops_valid(
    type_: int, sl: float, tp: float, bid: float, ask: float, *, gap: float = 0.0
) -> bool:
    """SL and TP (0 = none) on the right side of the price a position would close at, and
    at least `gap` (the stops level) from it."""
    eps = 1e-12
    if type_ == c.POSITION_TYPE_BUY:
        return (sl == 0 or (sl < bid and bid - sl >= gap - eps)) and (
            tp == 0 or (tp > bid and tp - bid >= gap - eps)
        )
    return (sl == 0 or (sl > ask and sl - ask >= gap - eps)) and (
        tp == 0 or (tp < ask and ask - tp >= gap - eps)
    )


def frozen(type_: int, sl: float, tp: float, bid: float, ask: float, *, gap: float) -> bool:
    """Whether the position's SL or TP is within the freeze level of the closing price."""
    if gap <= 0:
        return False
    price = bid if type_ == c.POSITION_TYPE_BUY else ask
    return any(level and abs(price - level) < gap for level in (sl, tp))


RETCODE_COMMENTS: dict[int, str] = {
    c.TRADE_RETCODE_DONE: "Request executed",
    c.TRADE_RETCODE_REQUOTE: "Requote",
    c.TRADE_RETCODE_INVALID: "Invalid request",
    c.TRADE_RETCODE_INVALID_VOLUME: "Invalid volume",
    c.TRADE_RETCODE_INVALID_STOPS: "Invalid stops",
    c.TRADE_RETCODE_NO_MONEY: "No money",
    c.TRADE_RETCODE_NO_CHANGES: "No changes",
    c.TRADE_RETCODE_POSITION_CLOSED: "Position doesn't exist",
    c.TRADE_RETCODE_INVALID_CLOSE_VOLUME: "Invalid close volume",
    c.TRADE_RETCODE_MARKET_CLOSED: "Market closed",
    c.TRADE_RETCODE_INVALID_FILL: "Unsupported filling mode",
    c.TRADE_RETCODE_PLACED: "Request placed",
    c.TRADE_RETCODE_INVALID_PRICE: "Invalid price",
    c.TRADE_RETCODE_INVALID_EXPIRATION: "Invalid expiration",
    c.TRADE_RETCODE_FROZEN: "Request frozen",
    c.TRADE_RETCODE_CLIENT_DISABLES_AT: "AutoTrading disabled by client",
    c.TRADE_RETCODE_CONNECTION: "No connection with the trade server",
}
