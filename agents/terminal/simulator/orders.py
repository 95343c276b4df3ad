"""Parsing and checking `order_send` requests as the terminal does."""

from __future__ import annotations

from typing import Any

from agents.terminal.mt5 import constants as c
from agents.terminal.simulator.settings import SymbolSpec
from agents.terminal.mt5.structures import TradeRequest

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
            if not isinstance(value, str):
                raise InvalidRequest(key)
            values[key] = value
        else:
            raise InvalidRequest(key)
    if "action" not in values:
        raise InvalidRequest("action")
    return TradeRequest(**values)


def volume_valid(spec: SymbolSpec, volume: float) -> bool:
    if volume < spec.volume_min - 1e-9 or volume > spec.volume_max + 1e-9:
        return False
    steps = volume / spec.volume_step
    return abs(steps - round(steps)) < 1e-6


def stops_valid(type_: int, sl: float, tp: float, bid: float, ask: float) -> bool:
    """SL and TP (0 = none) on the right side of the price a position would close at."""
    if type_ == c.POSITION_TYPE_BUY:
        return (sl == 0 or sl < bid) and (tp == 0 or tp > bid)
    return (sl == 0 or sl > ask) and (tp == 0 or tp < ask)


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
}
