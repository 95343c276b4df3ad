from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from bus.embedded import EmbeddedNatsServer, free_port
from tests.e2e.cli import mtq

pytestmark = [pytest.mark.e2e]

REPO = Path(__file__).resolve().parents[2]

COMMANDS = [
    [],
    ["up"],
    ["nats"],
    ["nats", "serve"],
    ["nats", "provision"],
    ["config", "validate"],
    ["schema", "export"],
    ["agent", "run"],
    ["supervisor", "run"],
    ["status"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "mtq")
def test_help_when_asked_then_every_command_explains_itself(command: list[str]) -> None:
    result = mtq(*command, "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage" in result.stdout


@pytest.mark.nats
def test_provision_when_run_twice_then_second_run_changes_nothing(
    fresh_nats_server: EmbeddedNatsServer,
) -> None:
    first = mtq("nats", "provision", "--nats-url", fresh_nats_server.url)
    assert first.returncode == 0, first.stderr
    assert "created: MT5_TICKS, MT5, RISK, CMD, DLQ, KV_mtq_status" in first.stdout
    second = mtq("nats", "provision", "--nats-url", fresh_nats_server.url)
    assert second.returncode == 0, second.stderr
    assert "created" not in second.stdout
    assert "unchanged: MT5_TICKS, MT5, RISK, CMD, DLQ, KV_mtq_status" in second.stdout


def test_provision_when_nats_unreachable_then_one_line_and_exit_2() -> None:
    url = f"nats://127.0.0.1:{free_port()}"
    result = mtq("nats", "provision", "--nats-url", url)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert url in lines[0]


def test_schema_export_when_run_then_writes_every_schema(tmp_path: Path) -> None:
    result = mtq("schema", "export", str(tmp_path))
    assert result.returncode == 0, result.stderr
    names = {p.name for p in tmp_path.iterdir()}
    assert {"TickReceived.json", "PositionClosed.json", "asyncapi.json"} <= names
    schema = json.loads((tmp_path / "ClosePosition.json").read_text())
    assert "command_id" in schema["required"]


def test_compose_when_services_start_mtq_commands_then_those_commands_exist() -> None:
    compose = yaml.safe_load(
        (Path(__file__).resolve().parents[2] / "docker-compose.yml").read_text()
    )
    mtq_services = {n: s for n, s in compose["services"].items() if "build" in s}
    assert mtq_services, "docker-compose.yml runs no mtq service"
    for name, service in mtq_services.items():
        words = [w for w in service["command"] if not w.startswith("-")]
        command = words[:2] if words[:1] != ["up"] else words[:1]
        result = mtq(*command, "--help")
        assert result.returncode == 0, f"service {name}: mtq {' '.join(command)}: {result.stderr}"


def test_make_test_when_no_browser_and_not_root_then_stops_at_once_saying_how(
    tmp_path: Path,
) -> None:
    # A PATH with no chromium and an `id` that answers a normal user's uid.
    fake_id = tmp_path / "id"
    fake_id.write_text("#!/bin/sh\necho 1000\n")
    fake_id.chmod(0o755)
    make = shutil.which("make")
    assert make, "make not installed"
    result = subprocess.run(
        [make, "-s", "-C", str(REPO), "test"],
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": str(tmp_path), "HOME": str(tmp_path)},
        check=False,
    )
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[0] == (
        "make test needs chromium and chromedriver: "
        "run 'sudo apt-get install -y chromium chromium-driver' first"
    ), result.stderr
    assert "ruff" not in result.stdout + result.stderr  # it stopped before lint ran


USAGE_ERRORS = [
    (["status", "--bogus"], "error: No such option: --bogus (see `mtq status --help`)"),
    (["nosuch"], "error: No such command 'nosuch'. (see `mtq --help`)"),
    (["risk", "show"], "error: Missing argument 'account'. (see `mtq risk show --help`)"),
    (["up", "--nats-port", "abc"], "error: Invalid value for '--nats-port': "),
]


@pytest.mark.parametrize(("args", "line"), USAGE_ERRORS, ids=str)
def test_usage_error_when_made_then_one_line_on_stderr_and_exit_2(
    args: list[str], line: str
) -> None:
    result = mtq(*args)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(line), lines[0]
    assert "╭" not in result.stderr


def test_bare_group_when_called_then_its_help_and_exit_2() -> None:
    result = mtq("risk")
    assert result.returncode == 2
    assert "Usage: mtq risk" in result.stdout
    assert result.stderr == ""


@pytest.mark.nats
@pytest.mark.parametrize("after", [0.2, 0.8, 1.5])
def test_ctrl_c_when_up_is_starting_then_no_traceback(tmp_path: Path, after: float) -> None:
    # The interrupt's moment is what is tested: while modules load, while the server and the
    # children start, once they run. Sent to the process group, as a terminal's Ctrl-C is.
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mtq",
            "up",
            "--config",
            str(REPO / "config/examples/demo.yaml"),
            "--data",
            str(tmp_path / "data"),
            "--nats-port",
            "0",
            "--http",
            "127.0.0.1:0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    time.sleep(after)
    os.killpg(proc.pid, signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    text = out.decode(errors="replace")
    if proc.returncode == -signal.SIGINT:
        # Python had not installed its SIGINT handler yet: the interrupt ended it before it
        # ran a line of mtq (so before anything started), the way it ends any program.
        assert text == "", text
    else:
        assert proc.returncode in (0, 130), text
    assert "Traceback" not in text, text
    assert "KeyboardInterrupt" not in text, text
