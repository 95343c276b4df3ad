"""`mtq status` where no `mtq up` owns the data dir: one line at once, naming the dirs in use."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bus.datadir import data_dirs_in_use, read_holder
from tests.e2e.cli import spawn_mtq
from tests.support import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.nats]


def _status(data: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NATS_URL", "NATS_CREDS")}
    return subprocess.run(
        [sys.executable, "-m", "mtq", "status", "--data", str(data)],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
        check=False,
    )


def test_status_when_nothing_runs_then_one_line_naming_the_data_dir(tmp_path: Path) -> None:
    done = _status(tmp_path / "nothing")
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert f"no `mtq up` owns {tmp_path / 'nothing'}" in lines[0]
    assert "Traceback" not in done.stderr + done.stdout


async def test_status_when_another_dir_is_in_use_then_the_line_names_it(tmp_path: Path) -> None:
    busy = tmp_path / "busy"
    log = tmp_path / "serve.log"
    serve = spawn_mtq(
        "nats", "serve", "--data", str(busy), "--nats-port", "0", "--no-provision", log=log
    )
    try:

        def served() -> bool:
            assert re.search(r"listening on nats://", log.read_text())
            holder = read_holder(busy)
            assert holder is not None
            assert holder.pid == serve.pid
            return True

        await eventually(served, timeout=30, message="nats serve")
        assert busy.resolve() in dict(data_dirs_in_use())
        done = _status(tmp_path / "idle")
        assert done.returncode == 2, done.stderr
        assert f"data dirs in use: {busy.resolve()} (pid {serve.pid}" in done.stderr
    finally:
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(timeout=30) == 0, log.read_text()
    assert busy.resolve() not in dict(data_dirs_in_use())
