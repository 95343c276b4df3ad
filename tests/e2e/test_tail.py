"""`mtq tail` as a real process against a real server."""

from __future__ import annotations

import asyncio
import json
import os
import sys

import nats
import pytest

from bus import codec
from bus.embedded import EmbeddedNatsServer
from bus.schemas import ClosePosition, TickReceived

pytestmark = [pytest.mark.e2e, pytest.mark.nats]

ENV = {k: v for k, v in os.environ.items() if not k.startswith("NATS_")}


async def _tail(url: str, *args: str) -> tuple[asyncio.subprocess.Process, asyncio.StreamReader]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "mtq", "tail", *args, "--nats-url", url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=ENV,
    )  # fmt: skip
    assert proc.stderr is not None
    assert proc.stdout is not None
    ready = await asyncio.wait_for(proc.stderr.readline(), 30)
    assert b"tailing" in ready, ready
    return proc, proc.stdout


async def test_tail_when_json_then_facts_commands_validated_and_bad_ones_marked(
    fresh_nats_server: EmbeddedNatsServer,
) -> None:
    url = fresh_nats_server.url
    proc, out = await _tail(url, "*.acc-1.>", "--json", "--count", "4")
    tick = TickReceived(
        account_id="acc-1", symbol="EURUSD", bid=1.1, ask=1.2, time_msc=1_772_442_000_007
    )
    close = ClosePosition(command_id="c-1", account_id="acc-1", ticket=5)
    nc = await nats.connect(url)
    try:
        await nc.publish("mt5.acc-1.tick.EURUSD", codec.encode(tick))
        await nc.publish("mt5.acc-1.tick.EURUSD", b'{"type": "TickReceived", "bid": "x"}')
        await nc.publish("cmd.acc-1.close_position", codec.encode(close))
        await nc.publish("other.acc-1.x", b'{"hello": [1, 2]}')
        await nc.flush()
        stdout = await asyncio.wait_for(out.read(), 20)
    finally:
        await nc.close()
    assert await proc.wait() == 0
    lines = [json.loads(line) for line in stdout.decode().splitlines()]
    assert len(lines) == 4
    good, bad, command, other = lines
    assert good["type"] == "TickReceived"
    assert good["message"]["bid"] == 1.1
    assert good["subject"] == "mt5.acc-1.tick.EURUSD"
    assert "error" in bad
    assert "message" not in bad
    assert '"x"' in bad["data"]
    assert command["type"] == "ClosePosition"
    assert command["message"]["ticket"] == 5
    assert other == {"subject": "other.acc-1.x", "message": {"hello": [1, 2]}}


async def test_tail_when_plain_then_one_line_per_message(
    fresh_nats_server: EmbeddedNatsServer,
) -> None:
    url = fresh_nats_server.url
    proc, out = await _tail(url, "mt5.acc-2.>", "--count", "2")
    nc = await nats.connect(url)
    try:
        tick = TickReceived(
            account_id="acc-2", symbol="EURUSD", bid=1.1, ask=1.2, time_msc=1_772_442_000_007
        )
        await nc.publish("mt5.acc-2.tick.EURUSD", codec.encode(tick))
        await nc.publish("mt5.acc-2.tick.EURUSD", b"garbage")
        await nc.flush()
        stdout = await asyncio.wait_for(out.read(), 20)
    finally:
        await nc.close()
    assert await proc.wait() == 0
    first, second = stdout.decode().splitlines()
    assert " mt5.acc-2.tick.EURUSD TickReceived {" in first
    assert '"bid":1.1' in first
    assert " mt5.acc-2.tick.EURUSD INVALID (" in second
    assert second.endswith("garbage")


async def test_tail_when_url_not_nats_then_exit_2_with_one_line() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "mtq", "tail", "mt5.>", "--nats-url", "http://127.0.0.1:4222",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=ENV,
    )  # fmt: skip
    _, err = await proc.communicate()
    assert proc.returncode == 2
    (line,) = err.decode().splitlines()
    assert "nats://, tls://, ws://, wss://" in line
    assert "http://127.0.0.1:4222" in line
