from __future__ import annotations

import time
from pathlib import Path

import pytest

from bus.connection import (
    URL_FILE_NAME,
    ConnectSettings,
    NatsUnavailable,
    connect,
    resolve_url,
)
from bus.embedded import free_port

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
    (tmp_path / URL_FILE_NAME).write_text("nats://127.0.0.1:5000\n")
    assert resolve_url(None, tmp_path) == "nats://127.0.0.1:5000"
    monkeypatch.setenv("NATS_URL", "nats://env:1")
    assert resolve_url(None, tmp_path) == "nats://env:1"
    assert resolve_url("nats://flag:2", tmp_path) == "nats://flag:2"
