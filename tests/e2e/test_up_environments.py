"""Each child of `mtq up` starts with only the environment it needs (issue 21 item 6)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.cli import pids_mentioning
from tests.e2e.up_support import Up, write_config
from tests.support import eventually_sync

pytestmark = [pytest.mark.e2e, pytest.mark.nats, pytest.mark.slow]

SECRETS = {
    "MTQ_API_TOKENS": "ops:tok-9f3a1c",
    "UP_HOOK_SECRET": "hook-secret-77",
    "UP_A_PASSWORD": "pw-a-123",
    "UP_B_PASSWORD": "pw-b-456",
    "UNRELATED_SECRET": "never-passed-on",
}
PASSWORDS = {"up-a": "UP_A_PASSWORD", "up-b": "UP_B_PASSWORD"}
EXTRA_CONFIG = """
api:
  webhooks: [{url: "http://127.0.0.1:9/hook", secret_env: UP_HOOK_SECRET}]
"""


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
    return dict(item.split("=", 1) for item in raw.split("\0") if "=" in item)


def _argv(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]


def _start(tmp_path: Path) -> Up:
    config = write_config(tmp_path)
    text = config.read_text(encoding="utf-8")
    for account, variable in PASSWORDS.items():
        text = text.replace(f"{{id: {account}, ", f"{{id: {account}, password_env: {variable}, ")
    config.write_text(text + EXTRA_CONFIG, encoding="utf-8")
    data = tmp_path / "data"
    log = tmp_path / "up.log"
    with log.open("wb") as handle:
        argv = ["up", "--config", str(config), "--data", str(data), "--nats-port", "0"]
        proc = subprocess.Popen(
            [sys.executable, "-m", "mtq", *argv],
            stdout=handle,
            stderr=subprocess.STDOUT,
            env={**os.environ, **SECRETS, "COLUMNS": "200"},
        )
    return Up(proc, log, data)


def test_up_when_secrets_in_its_environment_then_no_child_gets_what_it_does_not_need(
    tmp_path: Path,
) -> None:
    up = _start(tmp_path)
    try:
        up.url()
        creds = (up.data / "auth" / "creds").resolve()

        def children() -> dict[int, list[str]]:
            found = {p: _argv(p) for p in pids_mentioning(str(up.data)) if p != up.proc.pid}
            agents = [a for a in found.values() if "--account" in a]
            assert len(agents) == len(PASSWORDS), found
            assert any("api" in a for a in found.values()), found  # the last to start
            return found

        found = eventually_sync(children, timeout=60, message="every child started")
        assert _environ(up.proc.pid)["MTQ_API_TOKENS"] == SECRETS["MTQ_API_TOKENS"]
        kinds: list[str] = []
        for pid, argv in found.items():
            env = _environ(pid)
            assert "UNRELATED_SECRET" not in env, argv
            assert "PATH" in env, argv
            if Path(argv[0]).name == "nats-server":
                kinds.append("nats-server")
                assert not set(SECRETS) & set(env), (argv, sorted(env))
                assert not [name for name in env if name.startswith("NATS_")], sorted(env)
            elif "--account" in argv:
                account = argv[argv.index("--account") + 1]
                kinds.append(f"agent {account}")
                own = PASSWORDS[account]
                assert env[own] == SECRETS[own]
                assert set(SECRETS) & set(env) == {own}, (account, sorted(env))
                assert env["NATS_CREDS"] == str(creds / f"agent-{account}.creds")
                assert "MTQ_LIVENESS_FD" in env
            elif "api" in argv:
                kinds.append("api")
                assert set(SECRETS) & set(env) == {"MTQ_API_TOKENS", "UP_HOOK_SECRET"}
            else:
                kinds.append(" ".join(argv[2:4]))
                assert not set(SECRETS) & set(env), (argv, sorted(env))
        assert sorted(kinds) == sorted(
            ["nats-server", "agent up-a", "agent up-b", "api", "mtq engine", "mtq projector"]
        )
    finally:
        if up.proc.poll() is None:
            up.proc.send_signal(signal.SIGTERM)
        code = up.stop()
    assert code == 0, up.text()
