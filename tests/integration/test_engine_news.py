"""News blackouts over a real nats-server (issue 19): a CSV calendar imported with
`mtq news import` (a real CLI process), orders denied inside the window naming the event
and allowed outside, the SL/TP alert as the window opens, an unapproved close inside it
recorded as a violation, and `audit verify` identical, then failing on a tampered
calendar."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from pathlib import Path
from uuid import UUID

import msgspec
import pytest
from eventsourcing.persistence import Mapper, StoredEvent
from nats.aio.client import Client

from bus import subjects
from bus.codec import encode
from bus.reader import read_facts
from bus.schemas.risk import RiskCheckReply, RiskCheckRequest
from engine.audit_replay import Recorded, verify
from engine.audit_run import read_recorded, run_verify
from engine.store import open_store
from tests.e2e.cli import mtq
from tests.integration.engine_support import (
    T0,
    FactFeed,
    load,
    read_decisions,
    running_engine,
    settled,
    write_config,
)

pytestmark = pytest.mark.nats

NFP = T0.replace(hour=13, minute=30)  # Monday 2026-03-02 13:30Z
ACCOUNT = """\
  - id: news-1
    risk:
      initial_capital: 100000
      feed: {stale_after_seconds: 86400}
      news_blackout: {impact: high, before_minutes: 2, after_minutes: 2,
                      instruments: by_currency, sl_tp_warn_pips: 5}
"""
CSV = f"""\
time,currency,impact,title
{NFP.isoformat()},USD,high,Non-Farm Payrolls
{(NFP + timedelta(minutes=30)).isoformat()},EUR,high,ECB rate decision
{(NFP + timedelta(hours=1)).isoformat()},USD,low,Crude inventories
"""


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def _check(nc: Client, side: str, n: int) -> RiskCheckReply:
    request = RiskCheckRequest(
        account_id="news-1", symbol="XAUUSD", side=side,  # type: ignore[arg-type]
        volume=0.1, price=2350.0, client_order_id=f"o-{n}",
    )  # fmt: skip
    reply = await nc.request(subjects.risk_check("news-1"), encode(request), timeout=5)
    assert not (reply.headers or {}).get("Nats-Service-Error-Code"), reply.headers
    return msgspec.json.decode(reply.data, type=RiskCheckReply)


async def test_csv_calendar_denies_inside_the_window_allows_outside_and_audits(
    engine_bus: tuple[str, Client, FactFeed], tmp_path: Path
) -> None:
    url, nc, feed = engine_bus
    config = load(write_config(tmp_path, ACCOUNT))
    calendar = tmp_path / "ff-week.csv"
    calendar.write_text(CSV)
    bad = tmp_path / "bad.csv"
    bad.write_text(CSV + "2026-03-02T15:00:00Z,USD,severe,Retail sales\n")
    clock = Clock(NFP - timedelta(minutes=10))
    async with running_engine(url, config, clock=clock) as process:
        await feed.snapshot("news-1", 100_000, 100_000, at=NFP - timedelta(minutes=40))
        await feed.opened("news-1", 7, symbol="XAUUSD", price=2350.0, sl=2349.97,
                          at=NFP - timedelta(minutes=30))  # fmt: skip
        refused = await asyncio.to_thread(mtq, "news", "import", str(bad), "--nats-url", url)
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert "bad.csv:5: impact: impact 'severe'" in refused.stderr, refused.stderr
        done = await asyncio.to_thread(mtq, "news", "import", str(calendar), "--nats-url", url)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "recorded on: news-1" in done.stdout, done.stdout
        answers: dict[str, bool] = {}
        for n, offset in enumerate((-121, -120, 0, 120, 121)):
            clock.now = NFP + timedelta(seconds=offset)
            answers[f"buy {offset:+d}s"] = (await _check(nc, "buy", n)).approved
        clock.now = NFP + timedelta(seconds=30)
        closing = await _check(nc, "sell", 9)  # closing is refused too
        await feed.heartbeat("news-1", NFP - timedelta(minutes=3))
        opened = await feed.heartbeat("news-1", NFP - timedelta(minutes=1, seconds=55))
        violated = await feed.closed("news-1", 7, symbol="XAUUSD", at=NFP + timedelta(minutes=1))
        await settled(process, violated)
        listed = await asyncio.to_thread(mtq, "news", "list", "--nats-url", url)
    assert answers == {
        "buy -121s": True,
        "buy -120s": False,
        "buy +0s": False,
        "buy +120s": False,
        "buy +121s": True,
    }
    assert not closing.approved
    assert closing.reasons[0].startswith("news blackout: USD Non-Farm Payrolls (high) at "), (
        closing.reasons
    )
    assert listed.returncode == 0, listed.stderr
    assert "news-1: news_blackout, ff-week.csv sha256:" in listed.stdout, listed.stdout
    assert "ECB rate decision" in listed.stdout
    decisions = read_decisions(url)
    (imported,) = [d.body for d in decisions if d.type == "CalendarImported"]
    assert (imported["source"], imported["count"], imported["actor"]) == (
        "ff-week.csv", 3, "anonymous",
    )  # fmt: skip
    at_opening = [d.type for d in decisions if d.body["seq"] == opened]
    assert at_opening == ["NewsWindowOpened", "NewsStopNearWindow"]
    (violation,) = [d.body for d in decisions if d.type == "NewsWindowViolation"]
    assert (violation["deal"], violation["identifier"], violation["seq"]) == ("closed", 7, violated)

    store = open_store(url)
    replayed = await run_verify(nc, store)
    assert replayed.identical, replayed.summary()
    assert replayed.decisions == len(decisions)
    tampered = _tamper_calendar(read_recorded(store), store.mapper)
    facts = read_facts(nc.jetstream(), until_seq=tampered.tracking)
    result = await verify(facts, tampered, store.mapper)
    assert not result.identical
    assert result.difference is not None
    assert result.difference.recorded.startswith("CalendarImported "), result.summary()


def _tamper_calendar(recorded: Recorded, mapper: Mapper[UUID]) -> Recorded:
    """The same RISK with the Non-Farm Payrolls moved an hour later in the calendar."""
    stored: list[StoredEvent] = []
    for events in recorded.by_aggregate.values():
        for entry in events:
            event = entry.stored
            if event.topic.endswith("CalendarImported"):
                body = json.loads(event.state)
                body["events"][0][0] = (NFP + timedelta(hours=1)).isoformat()
                event = StoredEvent(event.originator_id, event.originator_version, event.topic,
                                    json.dumps(body).encode())  # fmt: skip
            stored.append(event)
    return Recorded.from_stored(stored, mapper, recorded.tracking)


async def test_config_calendar_recorded_once_and_in_force_across_restarts_from_snapshots(
    engine_bus: tuple[str, Client, FactFeed], tmp_path: Path
) -> None:
    url, nc, feed = engine_bus
    (tmp_path / "news").mkdir()
    (tmp_path / "news" / "week.csv").write_text(CSV)
    path = write_config(tmp_path, ACCOUNT)
    path.write_text(path.read_text() + "news: {calendar: news/week.csv}\n")
    config = load(path)
    clock = Clock(NFP)
    async with running_engine(url, config, clock=clock, snapshot_every=1) as process:
        seq = await feed.snapshot("news-1", 100_000, 100_000, at=NFP - timedelta(minutes=40))
        await settled(process, seq)
        first = await _check(nc, "buy", 1)
    for n in (2, 3):  # restarts: from the snapshot, the calendar is still in force
        async with running_engine(url, config, clock=clock, snapshot_every=1) as process:
            seq = await feed.heartbeat("news-1", NFP - timedelta(minutes=39 - n))
            await settled(process, seq)
            again = await _check(nc, "buy", n)
            assert not again.approved
            assert again.reasons[0].startswith("news blackout: USD Non-Farm Payrolls")
    assert not first.approved
    decisions = read_decisions(url)
    imported = [d.body for d in decisions if d.type == "CalendarImported"]
    assert [(d["actor"], d["source"], d["count"]) for d in imported] == [("config", "week.csv", 3)]
    replayed = await run_verify(nc, open_store(url))
    assert replayed.identical, replayed.summary()
