"""Export JSON Schemas (2020-12) and an AsyncAPI document for every wire type."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

import msgspec

from bus import schemas
from bus.schemas import news, query

JSON_SCHEMA_DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_ID_BASE: Final = "urn:mtq:schema:"

# (type, subject pattern, direction, description) for every channel.
CHANNELS: Final[tuple[tuple[type[schemas.base.Message], str, str], ...]] = (
    (schemas.TickReceived, "mt5.{account}.tick.{symbol}", "MT5_TICKS"),
    (schemas.PositionOpened, "mt5.{account}.position.opened", "MT5"),
    (schemas.PositionModified, "mt5.{account}.position.modified", "MT5"),
    (schemas.PositionClosed, "mt5.{account}.position.closed", "MT5"),
    (schemas.AccountSnapshot, "mt5.{account}.account", "MT5"),
    (schemas.AgentHeartbeat, "mt5.{account}.health", "MT5"),
    (schemas.OrderExecuted, "mt5.{account}.order.executed", "MT5"),
    (schemas.OrderRejected, "mt5.{account}.order.rejected", "MT5"),
    (schemas.AgentLifecycleChanged, "mt5.{account}.lifecycle", "MT5"),
    (schemas.ClosePosition, "cmd.{account}.close_position", "CMD"),
    (schemas.CloseAll, "cmd.{account}.close_all", "CMD"),
    (schemas.PlaceOrder, "cmd.{account}.place_order", "CMD"),
    (schemas.ModifyPosition, "cmd.{account}.modify_position", "CMD"),
    (schemas.SetTradingState, "cmd.{account}.set_trading_state", "CMD"),
    (schemas.RiskCheckRequest, "mtq.risk.check.{account}", "mtq-risk"),
    (schemas.RiskCheckReply, "mtq.risk.check.{account} (reply)", "mtq-risk"),
    (schemas.RiskControlRequest, "mtq.risk.control.{identity}", "mtq-risk"),
    (schemas.RiskControlReply, "mtq.risk.control.{identity} (reply)", "mtq-risk"),
    (schemas.RiskShowRequest, "mtq.risk.show", "mtq-risk"),
    (schemas.RiskShowReply, "mtq.risk.show (reply)", "mtq-risk"),
    (news.CalendarImportRequest, "mtq.risk.calendar.{identity}", "mtq-risk"),
    (news.CalendarImportReply, "mtq.risk.calendar.{identity} (reply)", "mtq-risk"),
    (news.NewsListRequest, "mtq.risk.news", "mtq-risk"),
    (news.NewsListReply, "mtq.risk.news (reply)", "mtq-risk"),
    (news.ReloadRequest, "mtq.risk.reload.{identity}", "mtq-risk"),
    (news.ReloadReply, "mtq.risk.reload.{identity} (reply)", "mtq-risk"),
    (query.StatusQuery, "mtq.query.status", "mtq-query"),
    (query.StatusReply, "mtq.query.status (reply)", "mtq-query"),
    (query.PositionsQuery, "mtq.query.positions", "mtq-query"),
    (query.PositionsReply, "mtq.query.positions (reply)", "mtq-query"),
    (query.ReconciliationQuery, "mtq.query.reconciliation", "mtq-query"),
    (query.ReconciliationReply, "mtq.query.reconciliation (reply)", "mtq-query"),
    (query.RiskQuery, "mtq.query.risk", "mtq-query"),
    (query.RiskReply, "mtq.query.risk (reply)", "mtq-query"),
    (query.EquityQuery, "mtq.query.equity", "mtq-query"),
    (query.EquityReply, "mtq.query.equity (reply)", "mtq-query"),
    (query.AnalyticsQuery, "mtq.query.analytics", "mtq-query"),
    (query.AnalyticsReply, "mtq.query.analytics (reply)", "mtq-query"),
    (query.BarsQuery, "mtq.query.bars", "mtq-query"),
    (query.BarsReply, "mtq.query.bars (reply)", "mtq-query"),
)
"""Streams are JetStream streams; `mtq-…` names are request/reply NATS micro services."""


def wire_types() -> list[type[schemas.base.Message]]:
    return [t for t, _, _ in CHANNELS]


def type_schema(message_type: type[Any]) -> dict[str, Any]:
    """A self-contained JSON Schema for one wire type."""
    (_ref,), components = msgspec.json.schema_components(
        [message_type], ref_template="#/$defs/{name}"
    )
    name = message_type.__name__
    root = dict(components[name])
    defs = {k: v for k, v in components.items() if k != name}
    document: dict[str, Any] = {
        "$schema": JSON_SCHEMA_DIALECT,
        "$id": f"{SCHEMA_ID_BASE}{name}",
        **root,
    }
    if defs:
        document["$defs"] = defs
    return document


def asyncapi_document() -> dict[str, Any]:
    """An AsyncAPI 3.0 document listing every channel and its message."""
    channels: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for message_type, address, stream in CHANNELS:
        name = message_type.__name__
        messages[name] = {
            "name": name,
            "contentType": "application/json",
            "payload": {"$ref": f"./{name}.json"},
        }
        channels[name] = {
            "address": address,
            "description": (
                f"request/reply of the NATS micro service {stream}"
                if stream.startswith("mtq-")
                else f"stored in JetStream stream {stream}"
            ),
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "mtq",
            "version": "1",
            "description": "Facts from MT5 agents, commands to them and the risk service's "
            "requests and replies, as plain JSON on NATS.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "components": {"messages": messages},
    }


def render_all() -> dict[str, str]:
    """File name → text for every schema file, deterministic."""
    files = {
        f"{t.__name__}.json": json.dumps(type_schema(t), indent=2, sort_keys=True) + "\n"
        for t in wire_types()
    }
    files["asyncapi.json"] = json.dumps(asyncapi_document(), indent=2, sort_keys=True) + "\n"
    return files


def export(directory: Path) -> list[Path]:
    """Write every schema file into `directory`; return the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render_all().items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def stale_files(directory: Path) -> list[str]:
    """Names of schema files in `directory` that are missing or differ from the code."""
    expected = render_all()
    stale = []
    for name, text in expected.items():
        path = directory / name
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            stale.append(name)
    # Files of types that no longer exist are stale too.
    stale.extend(sorted(p.name for p in directory.glob("*.json") if p.name not in expected))
    return stale
