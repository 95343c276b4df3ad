"""An explicit `--nats-port` that is taken fails at once with one line; only defaults move."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.cli import mtq

pytestmark = [pytest.mark.e2e]
DEMO = Path(__file__).parents[2] / "config" / "examples" / "demo.yaml"


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        yield squatter.getsockname()[1]


@pytest.mark.parametrize(
    "command",
    [("nats", "serve", "--no-provision"), ("up", "--config", str(DEMO))],
    ids=["nats-serve", "up"],
)
def test_explicit_nats_port_when_taken_then_one_line_exit_2(
    tmp_path: Path, taken_port: int, command: tuple[str, ...]
) -> None:
    done = mtq(*command, "--data", str(tmp_path / "data"), "--nats-port", str(taken_port))
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip().splitlines() == [
        f"error: port {taken_port} is taken: pass another --nats-port, or 0 for any free port"
    ]
    assert "nats-server" not in done.stdout
