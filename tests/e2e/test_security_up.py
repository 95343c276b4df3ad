"""`mtq up` secured by default: the system works as before, and no secret leaks anywhere."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client

from bus import subjects
from tests.e2e.cli import mtq, spawn_mtq
from tests.e2e.up_support import ACCOUNTS, Up, read_all, start_up, write_config
from tests.support import eventually, eventually_sync

pytestmark = [pytest.mark.e2e, pytest.mark.nats, pytest.mark.slow]

_SEED = re.compile(r"\bS[OAU][A-Z2-7]{56}\b")


def secrets_of(auth: Path) -> set[str]:
    """Every nkey seed mtq generated (operator, accounts, one per identity)."""
    found: set[str] = set()
    for path in auth.rglob("*"):
        if path.is_file():
            found.update(_SEED.findall(path.read_text(encoding="utf-8")))
    return found


async def stored_text(nc: Client) -> str:
    """Subjects, headers and bodies of every message in mtq's streams."""
    parts: list[str] = []
    # CMD is a work queue (no ordered reads; agents took its commands): the rest is read.
    for subject in ("mt5.>", "risk.>", "dlq.>", "$KV.mtq_status.>"):
        for msg in await read_all(nc, subject):
            parts.append(f"{msg.subject} {json.dumps(msg.headers or {})} ")
            parts.append(msg.data.decode(errors="replace"))
    return "\n".join(parts)


async def admin_client(up: Up) -> Client:
    return await nats.connect(
        up.url(), user_credentials=str(up.data / "auth" / "creds" / "admin.creds")
    )


async def test_up_when_secured_by_default_then_works_as_before_and_no_secret_leaks(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    up = start_up(tmp_path, write_config(tmp_path), data)
    try:
        url = up.url()
        text = up.text()
        creds = data / "auth" / "creds" / "admin.creds"
        assert f"nats --server {url} --creds {creds} stream ls" in text
        assert "security: on" in text
        with pytest.raises(Exception, match="Authorization Violation"):
            await nats.connect(url, connect_timeout=2, allow_reconnect=False)

        nc = await admin_client(up)
        try:
            js = nc.jetstream()

            async def facts_and_decisions() -> bool:
                for account in ACCOUNTS:
                    await js.get_last_msg(subjects.STREAM_FACTS, f"mt5.{account}.account")
                risk = await js.stream_info(subjects.STREAM_RISK)
                return risk.state.messages >= len(ACCOUNTS)

            await eventually(
                facts_and_decisions, timeout=60, message="facts of every account, RISK decisions"
            )
            status = mtq("status", "--json", "--data", str(data))
            assert status.returncode == 0, status.stderr
            listed = {a["account"] for a in json.loads(status.stdout)["accounts"]}
            assert listed == set(ACCOUNTS)
            stored = await stored_text(nc)
        finally:
            await nc.close()
    finally:
        assert up.stop() == 0, up.text()

    secrets = secrets_of(data / "auth")
    assert len(secrets) >= 3 + 5 + len(ACCOUNTS)  # operator, 2 accounts; 5 + agents users
    logs = {"mtq up output": up.text(), "stored messages": stored}
    for path in [*(data / "logs").glob("*.log"), data / "nats" / "nats-server.log"]:
        logs[str(path)] = path.read_text(errors="replace")
    leaks = [(where, s[:6]) for where, body in logs.items() for s in secrets if s in body]
    assert leaks == [], f"secrets found: {leaks}"


def test_up_when_insecure_then_open_and_says_so_loudly(tmp_path: Path) -> None:
    data = tmp_path / "data"
    log = tmp_path / "insecure.log"
    proc = spawn_mtq(
        "up", "--config", str(write_config(tmp_path)), "--data", str(data),
        "--nats-port", "0", "--insecure", log=log,
    )  # fmt: skip
    up = Up(proc, log, data)
    try:
        up.url()
        eventually_sync(  # the banner's last lines are out: it is whole
            lambda: "WARNING: --insecure" in up.text() and " risk show " in up.text(),
            timeout=30,
            message="insecure warning and the whole banner",
        )
        text = up.text()
        assert "accepts ANYONE" in text
        assert "security: OFF" in text
        assert "--creds" not in text
        assert not (data / "auth").exists()
    finally:
        assert up.stop() == 0, up.text()
