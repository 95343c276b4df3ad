"""Every identity against every subject family and every JetStream API verb, on a live
secured nats-server (issue 21, proof): what the server allows is exactly what the README's
Security table documents.

Each identity publishes on every probe subject and subscribes to every probe filter over one
connection; the server names each refused subject in its permissions violation, so one flush
per identity gives the whole allowed set. Destructive verbs of `admin` (who may do anything)
go to a scratch stream so the probes leave mtq's streams alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Final

import pytest
from nats.aio.client import Client

from bus import subjects
from bus.connection import ConnectSettings, connect
from bus.security.identities import ADMIN, KV_STREAM
from bus.topology import ensure_topology
from tests.integration.secured_support import Secured, secured_server
from tests.security.permission_table import Documented, documented

pytestmark = pytest.mark.nats

OWN, OTHER = "sec-a", "sec-b"
ACCOUNTS = [OWN, OTHER]
STREAMS = (
    subjects.STREAM_TICKS,
    subjects.STREAM_FACTS,
    subjects.STREAM_RISK,
    subjects.STREAM_CMD,
    subjects.STREAM_DLQ,
    KV_STREAM,
)
SCRATCH = "SCRATCH"
READ_VERBS = ("STREAM.INFO", "STREAM.MSG.GET", "DIRECT.GET", "CONSUMER.CREATE",
              "CONSUMER.LIST", "CONSUMER.NAMES")  # fmt: skip
CONSUMER_VERBS = ("CONSUMER.INFO", "CONSUMER.DELETE", "CONSUMER.MSG.NEXT", "CONSUMER.PAUSE",
                  "CONSUMER.LEADER.STEPDOWN")  # fmt: skip
WRITE_VERBS = ("STREAM.CREATE", "STREAM.UPDATE", "STREAM.DELETE", "STREAM.PURGE",
               "STREAM.MSG.DELETE", "STREAM.SNAPSHOT", "STREAM.RESTORE",
               "STREAM.LEADER.STEPDOWN")  # fmt: skip
ACCOUNT_VERBS = ("INFO", "STREAM.NAMES", "STREAM.LIST", "STREAM.CREATE.NEW", "ACCOUNT.PURGE",
                 "META.LEADER.STEPDOWN", "SERVER.REMOVE")  # fmt: skip


DEAD_LETTERED = (
    subjects.account_snapshot(OWN),
    subjects.command(OWN, "close_all"),
    subjects.command(OTHER, "close_all"),
)


def fact_subjects(account: str) -> list[str]:
    return [
        subjects.tick(account, "EURUSD"),
        subjects.position(account, "opened"),
        subjects.account_snapshot(account),
        subjects.health(account),
        subjects.order(account, "executed"),
        subjects.lifecycle(account),
    ]


def publish_probes(identity: str) -> list[str]:
    """Every subject family mtq has (own and another account's), then the JetStream API."""
    probes = [
        *fact_subjects(OWN),
        *fact_subjects(OTHER),
        *(subjects.command(a, k) for a in ACCOUNTS for k in subjects.COMMAND_KINDS),
        subjects.risk_events("acct", 1, "Forged"),
        *(subjects.dlq(s) for s in DEAD_LETTERED),
        subjects.webhook_dlq(OWN),
        f"$KV.{subjects.KV_STATUS}.{OWN}",
        subjects.risk_check(OWN),
        subjects.risk_check(OTHER),
        subjects.RISK_CHECK_PREFIX,
        *(subjects.risk_control(i) for i in (identity, ADMIN, "api", "engine")),
        subjects.RISK_CONTROL_PREFIX,
        subjects.RISK_SHOW,
        *(f"{subjects.AGENTS_PREFIX}.{op}" for op in ("list", "start", "stop", "restart")),
        *(subjects.query(e) for e in subjects.QUERY_ENDPOINTS),
        "$SRV.PING",
        "$SRV.INFO.mtq-risk",
        f"_INBOX.{identity}.reply",
        "_INBOX.someone-else.reply",
        "anything.else",
    ]
    api = "$JS.API"
    probes += [f"{api}.{verb}" for verb in ACCOUNT_VERBS]
    for stream in STREAMS:
        probes += [f"{api}.{verb}.{stream}" for verb in READ_VERBS]
        probes += [f"{api}.{verb}.{stream}.probe" for verb in CONSUMER_VERBS]
        probes += [f"{api}.DIRECT.GET.{stream}.mt5.{OTHER}.account", f"$JS.ACK.{stream}.probe.1"]
        probes += [f"{api}.{verb}.{SCRATCH if identity == ADMIN else stream}"
                   for verb in WRITE_VERBS]  # fmt: skip
    probes += [
        f"{api}.CONSUMER.CREATE.CMD.agent-{OWN}.cmd.{OWN}.>",
        f"{api}.CONSUMER.CREATE.CMD.agent-{OTHER}.cmd.{OTHER}.>",
        f"{api}.CONSUMER.CREATE.CMD.agent-{OWN}.cmd.{OTHER}.>",
        f"{api}.CONSUMER.INFO.CMD.agent-{OWN}",
        f"{api}.CONSUMER.MSG.NEXT.CMD.agent-{OWN}",
        f"{api}.CONSUMER.MSG.NEXT.CMD.agent-{OTHER}",
        f"$JS.ACK.CMD.agent-{OWN}.1.1.1.1.0",
        f"$JS.ACK.CMD.agent-{OTHER}.1.1.1.1.0",
    ]
    return list(dict.fromkeys(probes))


def subscribe_probes(identity: str) -> list[str]:
    return [
        "mt5.>",
        f"mt5.{OWN}.>",
        "mt5.*.health",
        "mt5.*.lifecycle",
        "cmd.>",
        f"cmd.{OWN}.>",
        "risk.>",
        "dlq.>",
        f"$KV.{subjects.KV_STATUS}.>",
        "mtq.risk.>",
        "mtq.risk.check.*",
        "mtq.agents.>",
        "mtq.query.>",
        "$SRV.>",
        "$JS.API.>",
        f"_INBOX.{identity}.>",
        "_INBOX.>",
        "_INBOX.someone-else.>",
        ">",
    ]


def covers(allowed: str, subject: str) -> bool:
    """Whether NATS's permission `allowed` includes every subject `subject` may stand for."""
    want, have = allowed.split("."), subject.split(".")
    for index, token in enumerate(want):
        if token == ">":
            return len(have) > index
        if index >= len(have) or have[index] == ">":
            return False
        if token != "*" and (token != have[index] or have[index] == "*"):
            return False
    return len(have) == len(want)


def expected(allowed: frozenset[str] | None, probes: list[str]) -> set[str]:
    if allowed is None:
        return set(probes)
    return {p for p in probes if any(covers(a, p) for a in allowed)}


@dataclass
class Outcome:
    published: set[str]
    subscribed: set[str]


def _refused(errors: list[str], kind: str, probes: list[str]) -> set[str]:
    """The probes the server refused (nats-py lowercases its error lines)."""
    prefix = f"permissions violation for {kind} to "
    named = set()
    for error in errors:
        at = error.lower().find(prefix)
        if at != -1:
            named.add(error[at + len(prefix) :].strip().strip('"').lower())
    return {p for p in probes if p.lower() in named}


SENTINEL: Final = "probe.sentinel"
"""Published and subscribed last: nobody but admin may, so once the server refused both,
it has answered every probe before them (it answers in order)."""


async def probe(secured: Secured, identity: str) -> Outcome:
    errors: list[str] = []
    answered = asyncio.Event()

    async def error_cb(exc: Exception) -> None:
        errors.append(str(exc))
        if all(_refused(errors, kind, [SENTINEL]) for kind in ("publish", "subscription")):
            answered.set()

    nc = await connect(
        ConnectSettings(url=secured.url, creds_file=str(secured.auth.creds(identity))),
        error_cb=error_cb,
    )
    pubs, subs = publish_probes(identity), subscribe_probes(identity)
    try:
        for subject in pubs:
            await nc.publish(subject, b"{}")
        for subject in subs:
            await nc.subscribe(subject)
        if identity == ADMIN:  # refused nothing so far, and a reply comes after any refusal
            await nc.request("$JS.API.INFO", b"", timeout=10)
        else:
            await nc.publish(SENTINEL, b"{}")
            await nc.subscribe(SENTINEL)
            await asyncio.wait_for(answered.wait(), 10)
        assert nc.is_connected, f"{identity} was disconnected while probing: {errors[-3:]}"
    finally:
        await nc.close()
    return Outcome(
        published=set(pubs) - _refused(errors, "publish", pubs),
        subscribed=set(subs) - _refused(errors, "subscription", subs),
    )


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    with secured_server(tmp_path_factory.mktemp("live-permissions"), ACCOUNTS) as running:
        yield running


@pytest.fixture(scope="module")
async def provisioned(secured: Secured) -> AsyncIterator[Client]:
    nc = await connect(ConnectSettings(url=secured.url, creds_file=str(secured.auth.admin_creds)))
    await ensure_topology(nc.jetstream())
    try:
        yield nc
    finally:
        await nc.close()


TABLE: dict[str, Documented] = documented(ACCOUNTS)


def test_covers_when_matching_like_nats_then_wildcards_and_subsets() -> None:
    assert covers("mt5.*.health", "mt5.a.health")
    assert not covers("mt5.*.health", "mt5.>")
    assert not covers("mt5.a.>", "mt5.a")
    assert covers("mt5.a.>", "mt5.a.b.c")
    assert covers("mtq.risk.>", "mtq.risk.check.*")
    assert not covers("mtq.risk.check.a", "mtq.risk.check.*")
    assert covers(">", ">")
    assert not covers("a.b", "a.b.c")


@pytest.mark.parametrize("identity", sorted(TABLE))
async def test_identity_when_it_tries_everything_then_allowed_exactly_as_documented(
    secured: Secured, provisioned: Client, identity: str
) -> None:
    doc = TABLE[identity]
    outcome = await probe(secured, identity)
    pubs, subs = publish_probes(identity), subscribe_probes(identity)
    want_pub, want_sub = expected(doc.pub, pubs), expected(doc.sub, subs)
    assert sorted(outcome.published - want_pub) == [], "allowed but not documented"
    assert sorted(want_pub - outcome.published) == [], "documented but refused"
    assert sorted(outcome.subscribed - want_sub) == [], "subscribed but not documented"
    assert sorted(want_sub - outcome.subscribed) == [], "documented but refused"
    assert outcome.published, "every identity may publish something"


async def test_streams_when_every_identity_probed_then_mtqs_streams_are_all_still_there(
    secured: Secured, provisioned: Client
) -> None:
    for identity in TABLE:
        await probe(secured, identity)
    js = provisioned.jetstream()
    names = {info.config.name for info in await js.streams_info()}
    assert set(STREAMS) <= names
