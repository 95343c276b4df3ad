from __future__ import annotations

import os
from pathlib import Path

import nats
import pytest

from bus.embedded import EmbeddedNatsServer, render_config

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
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_server_when_restarted_then_keeps_port(tmp_path: Path) -> None:
    server = EmbeddedNatsServer(data_dir=tmp_path)
    with server:
        port = server.port
    with server:
        assert server.port == port
        assert server.running()
