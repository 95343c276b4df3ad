from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import msgspec
import pytest

from bus import codec, schemas
from bus.schema_export import export, render_all, stale_files, wire_types
from bus.schemas import (
    AccountSnapshot,
    AgentHeartbeat,
    AgentLifecycleChanged,
    CloseAll,
    ClosePosition,
    ModifyPosition,
    OrderExecuted,
    OrderRejected,
    PlaceOrder,
    PositionClosed,
    PositionModified,
    PositionOpened,
    RiskCheckReply,
    RiskCheckRequest,
    RiskControlReply,
    RiskControlRequest,
    RiskShowReply,
    RiskShowRequest,
    SetTradingState,
    TickReceived,
    news,
    orders,
)
from bus.schemas import query as q
from bus.schemas.base import Message

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
NOW = datetime(2026, 11, 22, 8, 30, 15, 123000, tzinfo=UTC)
POSITION: dict[str, Any] = {
    "account_id": "ftmo-001",
    "ticket": 1001,
    "identifier": 1001,
    "symbol": "EURUSD",
    "side": "buy",
    "volume": 0.1,
    "price_open": 1.08512,
    "price_current": 1.08601,
    "sl": 1.08212,
    "tp": 1.09112,
    "profit": 8.9,
    "magic": 424242,
    "reason": "expert",
    "time_msc": 1_795_000_000_000,
}

SAMPLES: list[Message] = [
    TickReceived(
        account_id="ftmo-001", symbol="EURUSD", bid=1.0851, ask=1.0852, time_msc=1, flags=6
    ),
    PositionOpened(**POSITION),
    PositionModified(**POSITION, changed=("sl",)),
    PositionClosed(
        **POSITION, close_price=1.0860, deal_reason="tp", deal_ticket=5, close_time_msc=2
    ),
    AccountSnapshot(
        account_id="ftmo-001",
        login=1001,
        balance=100000,
        equity=99850.5,
        margin=108.5,
        margin_free=99742,
        margin_level=92028.1,
        profit=-149.5,
        currency="USD",
        server="Sim-Demo",
        time=NOW,
    ),
    AgentHeartbeat(
        account_id="ftmo-001",
        agent_id="agent-ftmo-001",
        pid=123,
        terminal_connected=True,
        breaker_state="closed",
        terminal_latency_ms=0.4,
        last_tick_age_s={"EURUSD": 0.1},
        time=NOW,
    ),
    OrderExecuted(
        account_id="ftmo-001", command_id="cmd-1", ticket=1001, retcode=10009, deal=7, time=NOW
    ),
    OrderRejected(account_id="ftmo-001", command_id="cmd-2", comment="unknown ticket 9", time=NOW),
    AgentLifecycleChanged(
        account_id="ftmo-001", agent_id="agent-ftmo-001", state="RUNNING", time=NOW
    ),
    ClosePosition(command_id="cmd-1", account_id="ftmo-001", ticket=1001),
    CloseAll(command_id="cmd-3", account_id="ftmo-001", symbol="XAUUSD"),
    PlaceOrder(
        command_id="0f3a9c2e77b04d1e",
        account_id="ftmo-001",
        symbol="EURUSD",
        side="buy",
        volume=0.5,
        sl=1.08,
        tp=1.09,
        signal_id="sig-1",
    ),
    ModifyPosition(command_id="cmd-5", account_id="ftmo-001", ticket=1001, sl=1.08),
    SetTradingState(command_id="cmd-4", account_id="ftmo-001", state="HALTED", reason="x"),
    RiskCheckRequest(
        account_id="ftmo-001",
        symbol="EURUSD",
        side="buy",
        volume=0.1,
        price=1.0852,
        sl=1.0822,
        client_order_id="strategy-1-17",
    ),
    RiskCheckReply(
        account_id="ftmo-001",
        approved=False,
        reasons=("lots 0.5 > max_lots_per_symbol 0.2",),
        limits={"max_lots_per_symbol": "0.2"},
        trading_state="ACTIVE",
        decision="x/7",
    ),
    RiskControlRequest(account_id="ftmo-001", action="pause", reason="news", actor="alice"),
    RiskControlReply(account_id="ftmo-001", trading_state="REDUCING", changed=True),
    RiskShowRequest(account_id="ftmo-001"),
    RiskShowReply(account_id="ftmo-001", summary={"trading_state": "ACTIVE"}),
    orders.SignalSubmit(
        signal_id="demo-1",
        strategy="demo",
        symbol="EURUSD",
        side="buy",
        risk_percent=0.5,
        sl=1.082,
        actor="alice",
    ),
    orders.SignalReply(
        signal_id="demo-1",
        accounts=(orders.AccountAnswer(account_id="ftmo-001", status="sent", volume="0.10"),),
    ),
    orders.ApprovalSubmit(signal_id="demo-1", account_id="ftmo-001", decision="approve"),
    orders.ApprovalReply(
        signal_id="demo-1",
        account_id="ftmo-001",
        approval_id="demo-1:ftmo-001",
        status="sent",
        actor="api:alice",
    ),
    news.CalendarImportRequest(
        source="week.csv",
        events=(
            news.NewsEventWire(
                time=datetime(2026, 3, 6, 13, 30, tzinfo=UTC),
                impact="high",
                title="Non-Farm Payrolls",
                currencies=("USD",),
            ),
        ),
    ),
    news.CalendarImportReply(digest="sha256:00", events=1, recorded=("ftmo-001",)),
    news.NewsListRequest(account_id="ftmo-001"),
    news.NewsListReply(accounts=(news.CalendarInForce(account_id="ftmo-001", blackout=True),)),
    news.ReloadRequest(),
    news.ReloadReply(changed=("ftmo-001",)),
    q.StatusQuery(account="ftmo-001"),
    q.StatusReply(accounts=[{"account_id": "ftmo-001", "health": "HEALTHY"}]),
    q.PositionsQuery(account="ftmo-001", state="closed"),
    q.PositionsReply(positions=[{"identifier": 1001, "symbol": "EURUSD"}]),
    q.ReconciliationQuery(account="ftmo-001", status=("divergent",)),
    q.ReconciliationReply(items=[{"status": "matched"}], counts={"matched": 1}),
    q.RiskQuery(account="ftmo-001", kinds=("DrawdownBreached",)),
    q.RiskReply(
        accounts=[{"account_id": "ftmo-001"}],
        events=[
            q.RiskEvent(
                account_id="ftmo-001",
                notification_id=7,
                type="DrawdownBreached",
                time="2026-11-22T08:00:00+00:00",
                decision={"floor": 95000.0},
            )
        ],
    ),
    q.EquityQuery(account="ftmo-001", since="2026-11-22T08:00:00Z"),
    q.EquityReply(
        account="ftmo-001",
        bars=[
            q.EquityMinute(
                minute="2026-11-22T08:00",
                equity=q.Ohlc(open=1.0, high=2.0, low=0.5, close=1.5),
                balance=q.Ohlc(open=1.0, high=1.0, low=1.0, close=1.0),
                samples=3,
            )
        ],
    ),
    q.AnalyticsQuery(account="ftmo-001", since="2026-11-01T00:00:00Z"),
    q.AnalyticsReply(account="ftmo-001", analytics={"stats": {"trades": 3}}),
    q.BarsQuery(symbol="EURUSD", tf="M5", since="2026-11-01T00:00:00Z"),
    q.BarsReply(symbol="EURUSD", tf="M5", account="ftmo-001", bars=[{"open": 1.1}]),
    q.RebuildRequest(),
    q.RebuildReply(accepted=True, total=120),
    q.RebuildProgress(done=60, total=120, facts=50, decisions=10),
]


def test_schema_files_when_code_changes_then_committed_files_must_be_regenerated() -> None:
    stale = stale_files(SCHEMAS)
    assert stale == [], f"run `mtq schema export` and commit: {stale}"


def test_stale_files_when_a_file_differs_or_is_missing_then_each_reported(
    tmp_path: Path,
) -> None:
    export(tmp_path)
    assert stale_files(tmp_path) == []
    (tmp_path / "TickReceived.json").write_text("{}\n", encoding="utf-8")
    (tmp_path / "ClosePosition.json").unlink()
    assert sorted(stale_files(tmp_path)) == ["ClosePosition.json", "TickReceived.json"]


def exported_structs() -> set[type[Message]]:
    """Every message Struct `bus.schemas` exports (unions such as `Fact` are not types)."""
    found = (getattr(schemas, name) for name in schemas.__all__)
    return {t for t in found if isinstance(t, type) and issubclass(t, Message)}


def test_wire_types_when_compared_with_bus_schemas_then_every_exported_struct_has_a_schema() -> (
    None
):
    assert exported_structs(), "bus.schemas exports no message types"
    assert set(wire_types()) == exported_structs()
    assert set(render_all()) == {f"{t.__name__}.json" for t in exported_structs()} | {
        "asyncapi.json"
    }


def test_samples_when_covering_every_wire_type_then_complete() -> None:
    assert {type(s) for s in SAMPLES} == exported_structs()


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: type(s).__name__)
def test_sample_payload_when_validated_against_its_schema_then_valid(sample: Message) -> None:
    schema = json.loads((SCHEMAS / f"{type(sample).__name__}.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    payload = msgspec.json.decode(codec.encode(sample))
    jsonschema.validate(payload, schema, cls=jsonschema.Draft202012Validator)


def test_stale_files_when_a_removed_type_left_its_file_then_reported(tmp_path: Path) -> None:
    export(tmp_path)
    (tmp_path / "Gone.json").write_text("{}")
    assert stale_files(tmp_path) == ["Gone.json"]


@pytest.mark.parametrize("sample", SAMPLES[:3], ids=lambda s: type(s).__name__)
def test_schema_when_payload_breaks_rule_then_invalid(sample: Message) -> None:
    schema = json.loads((SCHEMAS / f"{type(sample).__name__}.json").read_text())
    payload = msgspec.json.decode(codec.encode(sample))
    payload["account_id"] = "bad.id"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(payload, schema, cls=jsonschema.Draft202012Validator)


def test_asyncapi_when_rendered_then_lists_every_channel() -> None:
    doc = json.loads(render_all()["asyncapi.json"])
    assert set(doc["channels"]) == {t.__name__ for t in wire_types()}
    assert doc["channels"]["TickReceived"]["address"] == "mt5.{account}.tick.{symbol}"
