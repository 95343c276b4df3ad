from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import time
from pathlib import Path

import pytest

from bus.connection import (
    URL_FILE_NAME,
    BadNatsUrl,
    ConnectSettings,
    NatsUnavailable,
    check_url,
    connect,
    resolve_url,
)
from bus.datadir import DataDirLock
from bus.embedded import EmbeddedNatsServer, free_port
from tests.support import eventually

pytestmark = pytest.mark.nats


async def test_connect_when_server_unreachable_then_one_clear_error_quickly() -> None:
    url = f"nats://127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(NatsUnavailable) as info:
        await connect(ConnectSettings(url=url))
    assert time.monotonic() - started < 5
    assert url in str(info.value)
    assert "refused" in str(info.value).lower() or "failed" in str(info.value).lower()


async def test_connect_when_reachable_then_reconnect_switched_on(nats_url: str) -> None:
    client = await connect(ConnectSettings(url=nats_url))
    try:
        assert client.is_connected
        assert client.options["allow_reconnect"] is True
        assert client.options["max_reconnect_attempts"] == -1
    finally:
        await client.close()


def test_redacted_url_when_credentials_then_hidden() -> None:
    settings = ConnectSettings(url="nats://user:secret@host:4222")
    assert "secret" not in settings.redacted_url()


def test_resolve_url_when_precedence_then_flag_env_file_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NATS_URL", raising=False)
    assert resolve_url(None, tmp_path) == "nats://127.0.0.1:4222"
    with DataDirLock(tmp_path, "test owner"):
        (tmp_path / URL_FILE_NAME).write_text("nats://127.0.0.1:5000\n")
        assert resolve_url(None, tmp_path) == "nats://127.0.0.1:5000"
        monkeypatch.setenv("NATS_URL", "nats://env:1")
        assert resolve_url(None, tmp_path) == "nats://env:1"
        assert resolve_url("nats://flag:2", tmp_path) == "nats://flag:2"


def test_resolve_url_when_file_left_by_a_dead_owner_then_not_trusted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NATS_URL", raising=False)
    gone = subprocess.Popen(["true"])  # a pid that is gone once waited for
    gone.wait()
    (tmp_path / ".lock").write_text(
        json.dumps({"pid": gone.pid, "since": "2026-01-01T00:00:00+00:00", "command": "mtq up"})
    )
    (tmp_path / URL_FILE_NAME).write_text("nats://127.0.0.1:5000\n")

    assert resolve_url(None, tmp_path) == "nats://127.0.0.1:4222"


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:4222", "127.0.0.1:4222", "localhost", "nats://", "ftp://x:1"]
)
def test_check_url_when_scheme_not_nats_then_clear_error_naming_the_schemes(url: str) -> None:
    with pytest.raises(BadNatsUrl) as info:
        check_url(url)
    message = str(info.value)
    assert url in message
    assert "--nats-url" in message
    if "://" in url and not url.endswith("://"):
        assert "nats://, tls://, ws://, wss://" in message


@pytest.mark.parametrize(
    "url",
    ["nats://127.0.0.1:4222", "tls://h:1", "ws://h:8080", "wss://u:p@h", "nats://a:1,nats://b:2"],
)
def test_check_url_when_nats_scheme_then_accepted(url: str) -> None:
    assert check_url(url) == url


async def test_connect_when_server_dies_and_returns_then_outage_logged_once_each_way(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = EmbeddedNatsServer(data_dir=tmp_path / "nats")
    server.start()
    try:
        client = await connect(ConnectSettings(url=server.url, name="probe"))
        caplog.set_level(logging.WARNING, logger="bus.connection")
        server.kill()
        await eventually(lambda: not client.is_connected, message="client noticed")
        await asyncio.sleep(3.5)  # three reconnect attempts, one second apart
        server.start()
        await eventually(lambda: client.is_connected, timeout=15, message="client reconnected")
        await client.close()
    finally:
        server.stop()
    lines = [r.getMessage() for r in caplog.records if r.name == "bus.connection"]
    assert sum("lost; reconnecting" in line for line in lines) == 1, lines
    assert sum("is back" in line for line in lines) == 1, lines
    refused = [line for line in lines if "Connect call failed" in line]
    assert len(refused) <= 1, lines  # not one per reconnect attempt
