"""Export JSON Schemas (2020-12) and an AsyncAPI document for every wire type."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

import msgspec

from bus import schemas, subjects
from bus.schemas import news, orders, query

JSON_SCHEMA_DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_ID_BASE: Final = "urn:mtq:schema:"

_A: Final = subjects.PLACEHOLDERS["account"]
_SYM: Final = subjects.PLACEHOLDERS["symbol"]
_ID: Final = subjects.PLACEHOLDERS["identity"]
_REPLY: Final = " (reply)"
PROJECTOR: Final = "projector"
"""The running projector's own control subjects (plain NATS, not a micro service)."""


def _channels() -> tuple[tuple[type[schemas.base.Message], str, str], ...]:
    """(type, subject template, stream or service) for every channel, from bus.subjects."""
    s = subjects
    risk, query_ = s.SERVICE_RISK, s.SERVICE_QUERY
    facts: list[tuple[type[schemas.base.Message], str, str]] = [
        (schemas.TickReceived, s.tick(_A, _SYM), s.STREAM_TICKS),
        (schemas.PositionOpened, s.position(_A, "opened"), s.STREAM_FACTS),
        (schemas.PositionModified, s.position(_A, "modified"), s.STREAM_FACTS),
        (schemas.PositionClosed, s.position(_A, "closed"), s.STREAM_FACTS),
        (schemas.AccountSnapshot, s.account_snapshot(_A), s.STREAM_FACTS),
        (schemas.AgentHeartbeat, s.health(_A), s.STREAM_FACTS),
        (schemas.OrderExecuted, s.order(_A, "executed"), s.STREAM_FACTS),
        (schemas.OrderRejected, s.order(_A, "rejected"), s.STREAM_FACTS),
        (schemas.AgentLifecycleChanged, s.lifecycle(_A), s.STREAM_FACTS),
        (schemas.ClosePosition, s.command(_A, "close_position"), s.STREAM_CMD),
        (schemas.CloseAll, s.command(_A, "close_all"), s.STREAM_CMD),
        (schemas.PlaceOrder, s.command(_A, "place_order"), s.STREAM_CMD),
        (schemas.ModifyPosition, s.command(_A, "modify_position"), s.STREAM_CMD),
        (schemas.SetTradingState, s.command(_A, "set_trading_state"), s.STREAM_CMD),
    ]
    services: list[tuple[type[schemas.base.Message], str, str]] = [
        (schemas.RiskCheckRequest, s.risk_check(_A), risk),
        (schemas.RiskCheckReply, s.risk_check(_A) + _REPLY, risk),
        (schemas.RiskControlRequest, s.risk_control(_ID), risk),
        (schemas.RiskControlReply, s.risk_control(_ID) + _REPLY, risk),
        (schemas.RiskShowRequest, s.RISK_SHOW, risk),
        (schemas.RiskShowReply, s.RISK_SHOW + _REPLY, risk),
        (orders.SignalSubmit, s.orders_submit(_ID), s.SERVICE_ORDERS),
        (orders.SignalReply, s.orders_submit(_ID) + _REPLY, s.SERVICE_ORDERS),
        (orders.ApprovalSubmit, s.orders_approve(_ID), s.SERVICE_ORDERS),
        (orders.ApprovalReply, s.orders_approve(_ID) + _REPLY, s.SERVICE_ORDERS),
        (news.CalendarImportRequest, s.risk_calendar(_ID), risk),
        (news.CalendarImportReply, s.risk_calendar(_ID) + _REPLY, risk),
        (news.NewsListRequest, s.RISK_NEWS, risk),
        (news.NewsListReply, s.RISK_NEWS + _REPLY, risk),
        (news.ReloadRequest, s.risk_reload(_ID), risk),
        (news.ReloadReply, s.risk_reload(_ID) + _REPLY, risk),
    ]
    queries = (
        ("status", query.StatusQuery, query.StatusReply),
        ("positions", query.PositionsQuery, query.PositionsReply),
        ("reconciliation", query.ReconciliationQuery, query.ReconciliationReply),
        ("risk", query.RiskQuery, query.RiskReply),
        ("equity", query.EquityQuery, query.EquityReply),
        ("analytics", query.AnalyticsQuery, query.AnalyticsReply),
        ("bars", query.BarsQuery, query.BarsReply),
    )
    for endpoint, request, reply in queries:
        services.append((request, s.query(endpoint), query_))
        services.append((reply, s.query(endpoint) + _REPLY, query_))
    services += [
        (query.RebuildRequest, s.PROJECTOR_REBUILD, PROJECTOR),
        (query.RebuildReply, s.PROJECTOR_REBUILD + _REPLY, PROJECTOR),
        (query.RebuildProgress, s.PROJECTOR_REBUILD_PROGRESS, PROJECTOR),
    ]
    return tuple((t, s.template(subject), where) for t, subject, where in facts + services)


CHANNELS: Final = _channels()
"""Streams are JetStream streams; `mtq-…` names are request/reply NATS micro services;
`projector` is the running projector's rebuild control."""


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
                else "the running projector's rebuild, asked by admin only"
                if stream == PROJECTOR
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
