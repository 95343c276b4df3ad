"""`mtq projector rebuild` next to a running projector (issue 22, item 9): it refuses, or
with `--data` asks that projector to rebuild itself; with no NATS it says what to start."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest
from nats.aio.client import Client

from bus import subjects
from bus.embedded import EmbeddedNatsServer, free_port
from bus.schemas import PositionClosed, PositionOpened
from bus.schemas.query import RebuildProgress, RebuildReply, RebuildRequest
from bus.topology import ensure_topology
from projections.db import open_database
from projections.views_lock import ViewsLock, ViewsLocked, read_holder
from tests.integration.engine_support import (
    FactFeed,
    connect_js,
    load,
    running_engine,
    settled,
    write_config,
)
from tests.integration.test_projector_exactly_once import dump
from tests.pg_support import (  # noqa: F401 - fixtures
    caught_up,
    postgres_server_url,
    postgres_url,
    running_projector,
)

pytestmark = [pytest.mark.nats]

ACCOUNTS = """\
  - id: acc-1
    terminal: {simulator: {strategy: {magic: 424242}}}
    risk:
      initial_capital: 100000
      daily_loss: {limit_percent: 5, anchor: balance}
      max_loss: {kind: static, limit_percent: 10}
"""
ENV = {k: v for k, v in os.environ.items() if not k.startswith("NATS_")} | {"COLUMNS": "200"}


async def mtq(*args: str, timeout: float = 120) -> tuple[int, str, str]:  # noqa: ASYNC109
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "mtq", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=ENV,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@pytest.fixture
async def server(
    fresh_nats_server: EmbeddedNatsServer,
) -> AsyncIterator[tuple[str, Client, FactFeed]]:
    nc, js = await connect_js(fresh_nats_server.url)
    await ensure_topology(js)
    try:
        yield fresh_nats_server.url, nc, FactFeed(js)
    finally:
        await nc.close()


def _msc(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _opened(identifier: int, at: datetime) -> PositionOpened:
    return PositionOpened(
        account_id="acc-1", ticket=identifier, identifier=identifier, symbol="EURUSD",
        side="buy", volume=0.1, price_open=1.0851, price_current=1.0851, magic=424242,
        reason="expert", time_msc=_msc(at),
    )  # fmt: skip


async def _trading_day(url: str, feed: FactFeed, config: Any) -> None:
    """Snapshots, two positions (one closed) and a drawdown, decided by the real engine."""
    async with running_engine(url, config) as engine:
        last = await feed.snapshot("acc-1", 100_000, 100_000)
        await settled(engine, last)
        for identifier in (11, 12):
            at = feed.advance(1)
            await feed.publish(
                subjects.position("acc-1", "opened"), _opened(identifier, at), f"o{identifier}"
            )
        at = feed.advance(30)
        fields = msgspec.structs.asdict(_opened(12, at))
        close = PositionClosed(
            **fields | {"profit": 10.0},
            close_price=1.0861,
            deal_reason="tp",
            close_time_msc=_msc(at),
        )
        await feed.publish(subjects.position("acc-1", "closed"), close, "c12")
        last = await feed.snapshot("acc-1", 100_010, 97_000, at=feed.advance(30))
        await settled(engine, last)


async def test_rebuild_when_a_projector_holds_the_views_then_refused_in_one_line(
    server: tuple[str, Client, FactFeed], tmp_path: Path
) -> None:
    url, _, _ = server
    path = write_config(tmp_path, ACCOUNTS)
    db_url = f"sqlite:///{tmp_path / 'views.sqlite'}"
    async with running_projector(url, load(path), db_url) as process:
        holder = read_holder(db_url)
        assert holder is not None
        assert holder.pid == os.getpid()
        with pytest.raises(ViewsLocked):
            ViewsLock(db_url).acquire()
        before = await asyncio.to_thread(_dump, db_url)
        code, out, err = await mtq(
            "projector", "rebuild", "--config", str(path), "--nats-url", url, "--db", db_url
        )
        assert code == 2, err
        assert len(err.strip().splitlines()) == 1, err
        assert f"held by a running projector (pid {os.getpid()}" in err
        assert "--data DIR" in err
        assert out == ""
        assert process.projector.ready.is_set()
        assert await asyncio.to_thread(_dump, db_url) == before  # nothing was dropped
    ViewsLock(db_url).acquire().release()  # free once the projector is gone


async def test_rebuild_with_data_when_a_projector_runs_then_it_rebuilds_itself_to_equal_views(
    server: tuple[str, Client, FactFeed], tmp_path: Path
) -> None:
    url, _, feed = server
    path = write_config(tmp_path, ACCOUNTS)
    config = load(path)
    await _trading_day(url, feed, config)
    db_url = f"sqlite:///{tmp_path / 'views.sqlite'}"
    async with running_projector(url, config, db_url) as process:
        await caught_up(process)
        first = process.projector
        before = await asyncio.to_thread(_dump, db_url)
        assert before["proj_positions"]
        assert before["proj_risk_events"]
        code, out, err = await mtq(
            "projector", "rebuild", "--config", str(path), "--nats-url", url, "--db", db_url,
            "--data", str(tmp_path / "data"),
        )  # fmt: skip
        assert code == 0, err
        assert "the running projector rebuilt its views" in out
        rebuilt = process.projector
        assert rebuilt is not first  # fresh views, read from the start of both logs
        assert rebuilt.stats.facts == first.views.mt5_seq
        assert rebuilt.stats.decisions > 0
        assert await asyncio.to_thread(_dump, db_url) == before
        # It goes on live: a new fact after the rebuild is projected.
        at = feed.advance(5)
        await feed.publish(subjects.position("acc-1", "opened"), _opened(13, at), "o13")
        await caught_up(process)
        after = await asyncio.to_thread(_dump, db_url)
        assert 13 in {row[1] for row in after["proj_positions"]}


async def test_rebuild_with_data_when_nothing_serves_it_then_one_line_says_what_to_start(
    tmp_path: Path,
) -> None:
    path = write_config(tmp_path, ACCOUNTS)
    data = tmp_path / "data"
    code, out, err = await mtq(
        "projector", "rebuild", "--config", str(path), "--data", str(data),
        "--nats-url", f"nats://127.0.0.1:{free_port()}",
    )  # fmt: skip
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1, err
    assert f"mtq nats serve --data {data}" in err
    assert out == ""


def _dump(db_url: str) -> dict[str, list[Any]]:
    db = open_database(db_url)
    try:
        return dump(db)
    finally:
        db.close()


async def test_rebuild_when_asked_twice_at_once_then_the_second_is_refused(
    server: tuple[str, Client, FactFeed], tmp_path: Path
) -> None:
    url, nc, feed = server
    path = write_config(tmp_path, ACCOUNTS)
    config = load(path)
    await _trading_day(url, feed, config)
    db_url = f"sqlite:///{tmp_path / 'views.sqlite'}"
    async with running_projector(url, config, db_url) as process:
        await caught_up(process)
        progress = await nc.subscribe(subjects.PROJECTOR_REBUILD_PROGRESS)
        asked = [
            nc.request(
                subjects.PROJECTOR_REBUILD, msgspec.json.encode(RebuildRequest()), timeout=10
            )
            for _ in range(2)
        ]
        replies = [
            msgspec.json.decode(r.data, type=RebuildReply) for r in await asyncio.gather(*asked)
        ]
        assert sorted(r.accepted for r in replies) == [False, True]
        [refused] = [r for r in replies if not r.accepted]
        assert refused.reason == "a rebuild is already running"
        [accepted] = [r for r in replies if r.accepted]
        assert accepted.total > 0
        while True:
            shown = msgspec.json.decode(
                (await progress.next_msg(timeout=30)).data, type=RebuildProgress
            )
            assert shown.total == accepted.total
            if shown.finished:
                break
        assert shown.done == accepted.total


@pytest.mark.postgres
def test_lock_when_postgres_views_held_then_a_second_refused_until_released(
    postgres_url: str,  # noqa: F811 - the fixture
) -> None:
    first = ViewsLock(postgres_url).acquire()
    try:
        with pytest.raises(ViewsLocked, match="held by another projector"):
            ViewsLock(postgres_url).acquire()
    finally:
        first.release()
    ViewsLock(postgres_url).acquire().release()
