"""The simulator looks like the `MetaTrader5` module: names, fields, order, constants."""

from __future__ import annotations

import pytest

from agents.terminal.mt5.symbol_info import SymbolInfo
from agents.terminal.simulator import mt5sim as mt5

REAL_FIELDS: dict[str, tuple[str, ...]] = {
    "TradePosition": (
        "ticket",
        "time",
        "time_msc",
        "time_update",
        "time_update_msc",
        "type",
        "magic",
        "identifier",
        "reason",
        "volume",
        "price_open",
        "sl",
        "tp",
        "price_current",
        "swap",
        "profit",
        "symbol",
        "comment",
        "external_id",
    ),
    "AccountInfo": (
        "login",
        "trade_mode",
        "leverage",
        "limit_orders",
        "margin_so_mode",
        "trade_allowed",
        "trade_expert",
        "margin_mode",
        "currency_digits",
        "fifo_close",
        "balance",
        "credit",
        "profit",
        "equity",
        "margin",
        "margin_free",
        "margin_level",
        "margin_so_call",
        "margin_so_so",
        "margin_initial",
        "margin_maintenance",
        "assets",
        "liabilities",
        "commission_blocked",
        "name",
        "server",
        "currency",
        "company",
    ),
    "Tick": ("time", "bid", "ask", "last", "volume", "time_msc", "flags", "volume_real"),
    "OrderSendResult": (
        "retcode",
        "deal",
        "order",
        "volume",
        "price",
        "bid",
        "ask",
        "comment",
        "request_id",
        "retcode_external",
        "request",
    ),
    "TradeDeal": (
        "ticket",
        "order",
        "time",
        "time_msc",
        "type",
        "entry",
        "magic",
        "position_id",
        "reason",
        "volume",
        "price",
        "commission",
        "swap",
        "profit",
        "fee",
        "symbol",
        "comment",
        "external_id",
    ),
    "TradeRequest": (
        "action",
        "magic",
        "order",
        "symbol",
        "volume",
        "price",
        "stoplimit",
        "sl",
        "tp",
        "deviation",
        "type",
        "type_filling",
        "type_time",
        "expiration",
        "comment",
        "position",
        "position_by",
    ),
    "TerminalInfo": (
        "community_account",
        "community_connection",
        "connected",
        "dlls_allowed",
        "trade_allowed",
        "tradeapi_disabled",
        "email_enabled",
        "ftp_enabled",
        "notifications_enabled",
        "mqid",
        "build",
        "maxbars",
        "codepage",
        "ping_last",
        "community_balance",
        "retransmission",
        "company",
        "name",
        "language",
        "path",
        "data_path",
        "commondata_path",
    ),
}

REAL_CONSTANTS: dict[str, int] = {
    "TRADE_RETCODE_REQUOTE": 10004,
    "TRADE_RETCODE_REJECT": 10006,
    "TRADE_RETCODE_DONE": 10009,
    "TRADE_RETCODE_INVALID": 10013,
    "TRADE_RETCODE_INVALID_VOLUME": 10014,
    "TRADE_RETCODE_INVALID_STOPS": 10016,
    "TRADE_RETCODE_MARKET_CLOSED": 10018,
    "TRADE_RETCODE_NO_MONEY": 10019,
    "TRADE_RETCODE_NO_CHANGES": 10025,
    "TRADE_RETCODE_CONNECTION": 10031,
    "TRADE_RETCODE_POSITION_CLOSED": 10036,
    "ORDER_TYPE_BUY": 0,
    "ORDER_TYPE_SELL": 1,
    "POSITION_TYPE_BUY": 0,
    "POSITION_TYPE_SELL": 1,
    "TRADE_ACTION_DEAL": 1,
    "TRADE_ACTION_PENDING": 5,
    "TRADE_ACTION_SLTP": 6,
    "TRADE_ACTION_MODIFY": 7,
    "TRADE_ACTION_REMOVE": 8,
    "TRADE_ACTION_CLOSE_BY": 10,
    "POSITION_REASON_CLIENT": 0,
    "POSITION_REASON_MOBILE": 1,
    "POSITION_REASON_WEB": 2,
    "POSITION_REASON_EXPERT": 3,
    "DEAL_REASON_CLIENT": 0,
    "DEAL_REASON_MOBILE": 1,
    "DEAL_REASON_WEB": 2,
    "DEAL_REASON_EXPERT": 3,
    "DEAL_REASON_SL": 4,
    "DEAL_REASON_TP": 5,
    "DEAL_REASON_SO": 6,
    "DEAL_ENTRY_IN": 0,
    "DEAL_ENTRY_OUT": 1,
    "DEAL_ENTRY_INOUT": 2,
    "DEAL_ENTRY_OUT_BY": 3,
    "DEAL_TYPE_BUY": 0,
    "DEAL_TYPE_SELL": 1,
    "DEAL_TYPE_BALANCE": 2,
    "COPY_TICKS_ALL": -1,
    "COPY_TICKS_INFO": 1,
    "COPY_TICKS_TRADE": 2,
    "TICK_FLAG_BID": 2,
    "TICK_FLAG_ASK": 4,
    "ACCOUNT_MARGIN_MODE_RETAIL_HEDGING": 2,
    "ACCOUNT_STOPOUT_MODE_PERCENT": 0,
    "RES_S_OK": 1,
    "RES_E_FAIL": -1,
    "RES_E_INVALID_PARAMS": -2,
    "RES_E_NOT_FOUND": -4,
    "RES_E_AUTH_FAILED": -6,
    "RES_E_INTERNAL_FAIL": -10000,
    "RES_E_INTERNAL_FAIL_SEND": -10001,
    "RES_E_INTERNAL_FAIL_RECEIVE": -10002,
    "RES_E_INTERNAL_FAIL_INIT": -10003,
    "RES_E_INTERNAL_FAIL_CONNECT": -10004,
    "RES_E_INTERNAL_FAIL_TIMEOUT": -10005,
}


@pytest.mark.parametrize("name", sorted(REAL_FIELDS))
def test_named_tuple_when_compared_with_metatrader5_then_same_fields_in_same_order(
    name: str,
) -> None:
    assert getattr(mt5, name)._fields == REAL_FIELDS[name]


def test_symbol_info_when_listed_then_has_fields_agents_use_in_module_order() -> None:
    fields = SymbolInfo._fields
    used = (
        "digits",
        "spread",
        "bid",
        "ask",
        "point",
        "trade_tick_value",
        "trade_tick_size",
        "trade_contract_size",
        "volume_min",
        "volume_max",
        "volume_step",
        "name",
    )
    positions = [fields.index(f) for f in used[:-1]]
    assert positions == sorted(positions)
    assert fields[-3:] == ("name", "page", "path")


@pytest.mark.parametrize(("name", "value"), sorted(REAL_CONSTANTS.items()))
def test_constant_when_read_from_facade_then_matches_metatrader5(name: str, value: int) -> None:
    assert getattr(mt5, name) == value


def test_module_facade_when_used_like_metatrader5_then_returns_its_named_tuples() -> None:
    mt5.use(None)
    try:
        assert mt5.account_info() is None
        assert mt5.last_error() == (-10004, "No IPC connection")
        assert mt5.initialize() is True
        assert mt5.last_error() == (1, "Success")
        account = mt5.account_info()
        assert isinstance(account, mt5.AccountInfo)
        assert account.balance == account.equity
        tick = mt5.symbol_info_tick("EURUSD")
        assert isinstance(tick, mt5.Tick)
        assert tick.ask > tick.bid
        assert mt5.positions_get() == ()
        assert mt5.symbol_info("NOPE") is None
        assert mt5.last_error()[0] == mt5.RES_E_NOT_FOUND
        mt5.shutdown()
        assert mt5.positions_get() is None
    finally:
        mt5.use(None)
