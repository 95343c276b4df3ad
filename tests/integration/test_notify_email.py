"""Alert e-mails through apprise to a real local SMTP server (aiosmtpd) on a free port.

Decisions are published on a real nats-server's RISK stream; the API raises the alerts and
sends them to two mailboxes: one takes warnings and above, one only critical alerts. The
SMTP server refuses the first message it is given once (451), so the retry is exercised.
"""

from __future__ import annotations

import email
import email.policy
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import nats
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from nats.aio.client import Client

from bus import subjects
from bus.embedded import EmbeddedNatsServer
from bus.topology import ensure_topology
from config.models import NotifyConfig
from mtq.http import ApiSettings
from mtq.http.alerts import AlertStore
from tests.integration.test_api_support import RunningApi, free_port, running_api, seed_views
from tests.integration.test_webhooks_alerts import _counted
from tests.support import eventually

pytestmark = pytest.mark.nats

WARN_BOX = "desk@example.com"
CRIT_BOX = "pager@example.com"


@dataclass
class Mailbox:
    """What the SMTP server took, by recipient; `refuse` messages are answered 451 first."""

    refuse: int = 0
    mails: list[tuple[list[str], EmailMessage]] = field(default_factory=list)
    refused: int = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.refused < self.refuse:
            self.refused += 1
            return "451 try again later"
        content = envelope.content
        raw = content if isinstance(content, bytes) else str(content).encode()
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.mails.append((list(envelope.rcpt_tos), parsed))
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for rcpt, m in self.mails if address in rcpt]


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox(refuse=1)
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


@pytest.fixture
async def client(fresh_nats_server: EmbeddedNatsServer) -> AsyncIterator[Client]:
    nc = await nats.connect(fresh_nats_server.url)
    await ensure_topology(nc.jetstream())
    try:
        yield nc
    finally:
        await nc.close()


def mail_url(port: int, to: str) -> str:
    return f"mailto://127.0.0.1:{port}?from=mtq@example.com&to={to}&mode=insecure"


def settings(tmp_path: Path, nats_url: str, port: int, said: list[str]) -> ApiSettings:
    url = f"sqlite:///{tmp_path / 'views.sqlite'}"
    seeder = seed_views(url, ["acc-a"])
    fast: dict[str, Any] = {"backoff_initial_s": 0.05, "max_attempts": 3}
    notify = (
        NotifyConfig(url="${DESK_MAIL_URL}", min_severity="warning", name="desk", **fast),
        NotifyConfig(url=mail_url(port, CRIT_BOX), min_severity="critical", name="pager", **fast),
    )
    return ApiSettings(
        db_url=url,
        accounts=seeder.settings,
        nats_url=nats_url,
        notify=notify,
        say=said.append,
        alerts_db=tmp_path / "alerts.sqlite",
    )


async def decide(nc: Client, version: int, kind: str, **data: Any) -> None:
    body = {"account_id": "acc-a", "timestamp": datetime.now(UTC).isoformat(), **data}
    await nc.jetstream().publish(
        subjects.risk_events("acc-a", version, kind), json.dumps(body).encode()
    )


async def settled_alerts(api: RunningApi, count: int) -> list[dict[str, Any]]:
    async with api.client() as http:
        items: list[dict[str, Any]] = (await http.get("/alerts")).json()["items"]
    assert len(items) == count
    assert all(d["status"] in ("delivered", "dead") for a in items for d in a["deliveries"])
    return items


def text_of(mail: EmailMessage) -> str:
    part = mail.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


async def test_breach_when_decided_then_one_email_per_mailbox_naming_account_and_numbers(
    tmp_path: Path,
    fresh_nats_server: EmbeddedNatsServer,
    client: Client,
    mailbox: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    box, port = mailbox
    monkeypatch.setenv("DESK_MAIL_URL", mail_url(port, WARN_BOX))
    said: list[str] = []
    api_settings = settings(tmp_path, fresh_nats_server.url, port, said)
    before = (await client.jetstream().stream_info(subjects.STREAM_RISK)).state.last_seq
    async with running_api(api_settings) as api:
        await eventually(lambda: api.state.feed is not None and api.state.feed.started, timeout=15)
        await decide(
            client,
            7,
            "DrawdownBreached",
            rule="daily",
            limit=5000.0,
            floor=95000.0,
            value=94000.0,
            anchor=100000.0,
            breach_when="below",
            action="liquidate",
            holds=None,
        )
        found = await eventually(lambda: settled_alerts(api, 1), timeout=20)
        by_target = {d["webhook"]: d for d in found[0]["deliveries"]}
        assert set(by_target) == {"notify:desk", "notify:pager"}
        assert all(d["status"] == "delivered" for d in by_target.values())
        assert sorted(d["attempts"] for d in by_target.values()) == [1, 2]  # one 451, retried
        assert by_target["notify:desk"]["url"] == "${DESK_MAIL_URL}", "the env URL is not shown"

        # A warning reaches the desk only: the pager takes critical alerts.
        await decide(
            client, 8, "DrawdownWarning", rule="max", value=96000.0, warning_level=96500.0,
            floor=95000.0,
        )  # fmt: skip
        both = await eventually(lambda: settled_alerts(api, 2), timeout=20)
        warning = next(a for a in both if a["kind"] == "DrawdownWarning")
        assert [d["webhook"] for d in warning["deliveries"]] == ["notify:desk"]
        assert warning["deliveries"][0]["status"] == "delivered"
    pager, desk = box.to(CRIT_BOX), box.to(WARN_BOX)
    assert len(pager) == 1, "the warning was not sent to the critical-only mailbox"
    assert len(desk) == 2
    breach = pager[0]
    assert breach["Subject"] == "mtq critical: acc-a DrawdownBreached"
    body = text_of(breach)
    assert "daily limit breached: equity 94000.00, floor 95000.00; action liquidate" in body
    assert "account: acc-a" in body
    assert "limit: 5000.00" in body
    assert sorted(str(m["Subject"]) for m in desk) == [
        "mtq critical: acc-a DrawdownBreached",
        "mtq warning: acc-a DrawdownWarning",
    ]
    assert "equity 96000.00 crossed the warning level 96500.00" in text_of(
        next(m for m in desk if "Warning" in str(m["Subject"]))
    )
    assert not any(WARN_BOX in line for line in said)

    # A restarted API reading both decisions again sends nothing twice.
    assert api_settings.alerts_db is not None
    store = AlertStore(api_settings.alerts_db)
    store.set_position("risk", before)
    store.close()
    async with running_api(api_settings) as again:
        await eventually(
            lambda: _counted(again, "mtq_api_decisions_seen") == 2,
            timeout=15,
            message="the restarted API read the two decisions again",
        )
        assert _counted(again, "mtq_alerts") == 0
        notifier = again.state.alerter.notifier
        assert notifier is not None
        await notifier.idle()
    assert len(box.mails) == 3, "an e-mail went out twice"


async def test_smtp_down_when_alert_then_retried_and_dead_lettered(
    tmp_path: Path,
    fresh_nats_server: EmbeddedNatsServer,
    client: Client,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DESK_MAIL_URL", "mailto://127.0.0.1:1?from=a@example.com&to=b@example.com")
    said: list[str] = []
    closed_port = free_port()  # nothing listens there
    dead = await client.subscribe("dlq.api.webhook.>")
    base = settings(tmp_path, fresh_nats_server.url, closed_port, said)
    only = NotifyConfig(
        url=mail_url(closed_port, CRIT_BOX), name="pager", max_attempts=2, backoff_initial_s=0.05
    )
    async with running_api(replace(base, notify=(only,))) as api:
        await eventually(lambda: api.state.feed is not None and api.state.feed.started, timeout=15)
        await decide(
            client, 3, "TradingStateChanged", state="HALTED", previous="ACTIVE",
            reason="daily loss", actor="risk", command_id="c-1", holds={},
        )  # fmt: skip
        found = await eventually(lambda: settled_alerts(api, 1), timeout=20)
    (delivery,) = found[0]["deliveries"]
    assert delivery["status"] == "dead"
    assert delivery["attempts"] == 2
    assert delivery["last_error"]
    assert any("notification notify:pager failed" in line for line in said)
    msg = await dead.next_msg(timeout=5)
    assert msg.subject == "dlq.api.webhook.acc-a"
    assert msg.headers is not None
    assert msg.headers["Mtq-Error-Kind"] == "notify_dead"
