"""`mtq projector rebuild` under a secured `mtq up` (issue 22, item 9): refused without
`--data`; with it, `mtq up`'s projector rebuilds itself (asked as the data dir's admin)."""

from __future__ import annotations

from pathlib import Path

import pytest

from projections.db import DB_FILE_NAME, open_database
from tests.e2e.cli import mtq
from tests.e2e.up_support import start_up, write_config
from tests.support import eventually_sync

pytestmark = [pytest.mark.e2e, pytest.mark.nats, pytest.mark.slow]


def _positions_seen(db_url: str) -> int:
    db = open_database(db_url)
    try:
        rows = db.query("SELECT position FROM proj_tracking WHERE source = 'MT5'")
    finally:
        db.close()
    assert rows, "nothing projected yet"
    assert int(rows[0][0]) > 0
    return int(rows[0][0])


def test_up_when_rebuild_asked_then_refused_without_data_and_done_by_its_projector_with_it(
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path)
    data = tmp_path / "data"
    up = start_up(tmp_path, config, data)
    try:
        up.url()
        db_url = f"sqlite:///{(data / DB_FILE_NAME).resolve()}"
        eventually_sync(lambda: _positions_seen(db_url), timeout=60, message="views written")

        refused = mtq("projector", "rebuild", "--config", str(config), "--db", db_url)
        assert refused.returncode == 2, refused.stderr
        assert "held by a running projector" in refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1

        done = mtq("projector", "rebuild", "--config", str(config), "--data", str(data))
        assert done.returncode == 0, done.stdout + done.stderr
        assert "the running projector rebuilt its views" in done.stdout
        assert up.proc.poll() is None
        eventually_sync(lambda: _positions_seen(db_url), timeout=30, message="views again")
        status = mtq("status", "--data", str(data))
        assert status.returncode == 0, status.stdout + status.stderr
    finally:
        assert up.stop() == 0, up.text()[-3000:]
