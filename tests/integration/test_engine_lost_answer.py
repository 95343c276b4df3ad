"""The answer to a commit is lost but the write landed, on a real nats-server: the engine
retries, the server refuses the copy (its expected last sequence moved), the engine reads
RISK, finds its own decisions there, and goes on: nothing doubled, not fenced (issue 22)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import OperationalError
from nats.aio.client import Client

from tests.integration.engine_support import (
    FactFeed,
    load,
    read_decisions,
    running_engine,
    settled,
    write_config,
)

pytestmark = pytest.mark.nats

ACCOUNT = """\
  - id: lost-1
    risk:
      initial_capital: 100000
      daily_loss: {limit_percent: 5}
"""


async def test_commit_when_written_but_answer_lost_then_retried_found_and_not_doubled(
    engine_bus: tuple[str, Client, FactFeed], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url, _, feed = engine_bus
    async with running_engine(url, load(write_config(tmp_path, ACCOUNT))) as process:
        await settled(process, await feed.snapshot("lost-1", 100_000, 100_000))
        recorder = process.engine.store.recorder
        real_insert = recorder.insert_events
        lost: list[int] = []
        calls: list[int] = []

        def insert_then_lose_the_answer(*args: Any, **kwargs: Any) -> Any:
            calls.append(len(args[0]))
            result = real_insert(*args, **kwargs)  # really written to RISK on the server
            if not lost:
                lost.append(len(args[0]))
                raise OperationalError("answer lost (the test dropped it after the write)")
            return result

        recorder.insert_events = insert_then_lose_the_answer  # type: ignore[method-assign]
        feed.advance(60)
        breach = await feed.snapshot("lost-1", 100_000, 94_000)
        await settled(process, breach, timeout=20)
        assert process.engine.pipeline.failure is None
        assert process.engine.pipeline.committed_seq >= breach
    assert lost  # the first attempt's answer was dropped after its decisions were stored
    assert calls[:2] == [lost[0], lost[0]]  # and the same decisions were offered again
    assert any("retrying" in r.getMessage() for r in caplog.records)
    decisions = [d for d in read_decisions(url) if d.account_id == "lost-1"]
    versions = [d.version for d in decisions]
    assert versions == list(range(1, len(versions) + 1))  # each decision once
    assert [d.type for d in decisions].count("DrawdownBreached") == 1
    assert [d.type for d in decisions].count("LiquidationOrdered") == 1
