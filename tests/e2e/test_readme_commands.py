"""Every `mtq`, `curl` and `sed` line of the README's shell blocks runs as written on `mtq up`.

The demo runs as `make run` would start it (with the README's `MTQ_API_TOKENS=alice:s3cret`),
in a directory laid out as a checkout: `.venv/bin/mtq`, `config/`, `data/`. Each command runs
through bash as printed, with only the HTTP address swapped for the test's free port. `nats`
CLI lines are left out: that CLI is not installed by `make` (the README says so).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bus.embedded import free_port
from tests.support import eventually_sync

pytestmark = [pytest.mark.e2e, pytest.mark.nats, pytest.mark.slow]

REPO = Path(__file__).parents[2]
RUNNERS = (".venv/bin/mtq ", "curl ", "sed ")
STREAMING = ("curl -sN ", " tail ")
EXIT_CODES = {"audit whatif": (0, 1)}
DEMO_ACCOUNTS = {"ftmo-001", "trail-002", "strict-003"}


def readme_commands(text: str) -> list[str]:
    """The logical lines of the ```sh blocks that run mtq, curl or sed, in order."""
    found: list[str] = []
    for block in re.findall(r"```sh\n(.*?)```", text, flags=re.DOTALL):
        logical = re.sub(r"\\\n\s*", " ", block)
        found += [line for line in logical.splitlines() if line.startswith(RUNNERS)]
    return found


def test_readme_commands_when_parsed_then_the_documented_ones_are_found() -> None:
    commands = readme_commands((REPO / "README.md").read_text(encoding="utf-8"))
    assert any(c.startswith(".venv/bin/mtq risk show") for c in commands)
    assert any("/pause" in c and "Content-Type: application/json" in c for c in commands)
    assert len(commands) >= 15


@pytest.fixture
def checkout(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "mtq").symlink_to(Path(sys.executable).parent / "mtq")
    (tmp_path / "config").symlink_to(REPO / "config")
    http = f"127.0.0.1:{free_port()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NATS_", "MTQ_"))}
    env |= {"MTQ_API_TOKENS": "alice:s3cret", "COLUMNS": "200"}
    env |= {"MTQ_DEMO_SIGNAL_SECRET": "demo-secret"}  # the README's Signals section
    log = (tmp_path / "up.log").open("wb")
    argv = [".venv/bin/mtq", "up", "--config", "config/examples/demo.yaml"]
    up = subprocess.Popen(
        [*argv, "--nats-port", "0", "--http", http],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield tmp_path, http
    finally:
        up.send_signal(signal.SIGTERM)
        try:
            up.wait(timeout=60)
        except subprocess.TimeoutExpired:
            up.kill()
        log.close()


def _ready(http: str) -> bool:
    reply = httpx.get(f"http://{http}/accounts", timeout=5)
    ids = {a["account_id"] for a in reply.json()["items"]}
    assert ids >= DEMO_ACCOUNTS, ids
    risk = httpx.get(f"http://{http}/accounts/ftmo-001/risk", timeout=5)
    assert risk.status_code == 200, risk.text
    return True


def test_readme_commands_when_run_on_the_demo_then_each_succeeds(
    checkout: tuple[Path, str],
) -> None:
    directory, http = checkout
    eventually_sync(lambda: _ready(http), timeout=120, message="the demo up and projected")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NATS_", "MTQ_"))}
    commands = readme_commands((REPO / "README.md").read_text(encoding="utf-8"))
    for written in commands:
        line = written.replace("localhost:8000", http).replace("curl ", "curl --fail-with-body ")
        streaming = any(s in written for s in STREAMING)
        proc = subprocess.Popen(
            ["bash", "-c", "set -o pipefail; " + line],
            cwd=directory,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            out, err = proc.communicate(timeout=4 if streaming else 90)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            assert streaming, f"{written!r} did not finish"
            assert out.strip(), f"{written!r} streamed nothing: {err.decode()}"
            continue
        allowed = next((c for k, c in EXIT_CODES.items() if k in line), (0,))
        shown = f"{written!r} exited {proc.returncode}: {out.decode()[-500:]} {err.decode()}"
        assert proc.returncode in allowed, shown
        assert streaming or out.strip() or "sed " in line, f"{written!r} printed nothing"


def signal_blocks(text: str) -> list[str]:
    """The ```bash blocks of the README's Signals section (shell scripts, run whole)."""
    section = text.split("### Signals", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.*?)```", section, flags=re.DOTALL)


def test_readme_signal_when_signed_as_written_then_answered_and_approved(
    checkout: tuple[Path, str],
) -> None:
    """The signed curl and the approval of the Signals section, as written (the first line
    is `make run`, which the fixture's `mtq up` stands for)."""
    directory, http = checkout
    eventually_sync(lambda: _ready(http), timeout=120, message="the demo up and projected")
    submit, approval = signal_blocks((REPO / "README.md").read_text(encoding="utf-8"))
    assert submit.splitlines()[0].startswith("MTQ_DEMO_SIGNAL_SECRET=demo-secret ")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NATS_", "MTQ_"))}

    def run(script: str) -> dict[str, Any]:
        script = script.replace("localhost:8000", http).replace("curl ", "curl --fail-with-body ")
        done = subprocess.run(
            ["bash", "-c", "set -e -o pipefail\n" + script],
            cwd=directory, env=env, capture_output=True, timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 0, (done.stdout.decode(), done.stderr.decode())
        answer: dict[str, Any] = json.loads(done.stdout)
        return answer

    answered = run("\n".join(submit.splitlines()[1:]))
    rows = {row["account_id"]: row for row in answered["accounts"]}
    assert set(rows) == {"strict-003", "ftmo-001"}, answered
    # auto for strict-003: sent, or refused by its pre-trade with the reason (README says so)
    assert rows["strict-003"]["status"] == "sent" or rows["strict-003"]["reason"], rows
    assert rows["ftmo-001"]["status"] in ("awaiting_approval", "rejected"), rows
    if rows["ftmo-001"]["status"] == "awaiting_approval":
        approved = run(approval)
        assert approved["actor"] == "api:alice", approved
        assert approved["status"] in ("sent", "rejected"), approved
    again = run("\n".join(submit.splitlines()[1:]))
    assert again["duplicate"] is True, again
