"""Ctrl-C in the first second(s) of `mtq up` stops it cleanly: no traceback, no leftovers
(issue 22 item 12, the `mtq up` part)."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.cli import pids_mentioning, spawn_mtq
from tests.e2e.up_support import write_config
from tests.support import eventually_sync

pytestmark = [pytest.mark.e2e, pytest.mark.nats, pytest.mark.slow]


@pytest.mark.parametrize("after_s", [0.3, 0.8, 1.2, 1.5, 2.0, 3.0])
def test_up_when_interrupted_early_then_no_traceback_and_nothing_left(
    tmp_path: Path, after_s: float
) -> None:
    data = tmp_path / "data"
    log = tmp_path / "up.log"
    config = write_config(tmp_path)
    proc = spawn_mtq("up", "--config", str(config), "--data", str(data), "--nats-port", "0",
                     "--http", "127.0.0.1:0", log=log)  # fmt: skip
    time.sleep(after_s)  # the moment of the Ctrl-C is what this test varies
    proc.send_signal(signal.SIGINT)
    try:
        code = proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError(log.read_text(errors="replace")) from None
    text = log.read_text(errors="replace")
    assert "Traceback" not in text, text
    # 130: stopped by the Ctrl-C; -SIGINT: interrupted before Python was fully up.
    assert code in (0, 130, -signal.SIGINT), text
    eventually_sync(lambda: not pids_mentioning(str(data)), timeout=15, message="no leftovers")
