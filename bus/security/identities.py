"""Who may do what: one identity per component, with only the subjects it needs.

Every subject here is enforced by nats-server (the permissions of each user JWT), not by
mtq. JetStream is driven through subjects too: creating a consumer, fetching from it,
acking, direct gets all are publishes to `$JS.API.…`/`$JS.ACK.…`, so an identity that may
not publish `$JS.API.STREAM.DELETE.MT5` cannot delete that stream.

Requests to the risk service carry who asks in the subject: an agent may publish only
`mtq.risk.check.<its account>`, and a control request only `mtq.risk.control.<identity>`
(the api's `mtq.risk.control.api`), so the engine binds the account and the recorded actor
to what the server authenticated (engine/service.py).

Replies: each identity subscribes only to its own inbox prefix `_INBOX.<identity>.>` (the
clients set it from the name in their credentials), so nobody reads another's replies
(an agent's fetched commands arrive on its inbox). Services answer requests through the
server's response permission (`resp`) instead of a publish right on every inbox.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from bus import subjects

API: Final = "$JS.API"
ADMIN: Final = "admin"
SUPERVISOR: Final = "supervisor"
ENGINE: Final = "engine"
PROJECTOR: Final = "projector"
HTTP_API: Final = "api"
STRATEGY_PREFIX: Final = "strategy-"
"""A strategy's identity is `strategy-<name>`: it may only submit its own signals."""
AGENT_MAX_PAYLOAD: Final = 64 * 1024
"""Largest message an agent may publish (bytes): a fact is a few hundred bytes, a heartbeat
with many symbols a few KiB; the server refuses (and disconnects) beyond it."""
KV_STREAM: Final = f"KV_{subjects.KV_STATUS}"
_MTQ_STREAMS: Final = (
    subjects.STREAM_TICKS,
    subjects.STREAM_FACTS,
    subjects.STREAM_RISK,
    subjects.STREAM_CMD,
    subjects.STREAM_DLQ,
    KV_STREAM,
)


@dataclass(frozen=True)
class Identity:
    """A NATS user: may publish `pub`, subscribe `sub`, answer requests if `responds`.

    Empty `pub` and `sub` with `unrestricted` mean everything (the admin).
    """

    name: str
    pub: tuple[str, ...] = ()
    sub: tuple[str, ...] = ()
    responds: bool = False
    unrestricted: bool = False
    max_payload: int = -1
    """Largest message it may publish, in bytes (-1: the server's limit)."""

    @property
    def inbox_prefix(self) -> str:
        return inbox_prefix(self.name)

    def claims(self) -> dict[str, Any]:
        """The `nats` part of this identity's user JWT."""
        claims: dict[str, Any] = {
            "subs": -1,
            "data": -1,
            "payload": self.max_payload,
            "type": "user",
        }
        if self.unrestricted:
            return claims
        claims["pub"] = {"allow": sorted(self.pub)}
        claims["sub"] = {"allow": sorted(self.sub)}
        if self.responds:
            claims["resp"] = {"max": 1, "ttl": 0}
        return claims


def inbox_prefix(name: str) -> str:
    """The inbox prefix an identity's clients use (and may subscribe to)."""
    return f"_INBOX.{name}"


def agent_name(account_id: str) -> str:
    return f"agent-{subjects.account(account_id)}"


def _stream_info() -> tuple[str, ...]:
    """Stream metadata (config and counts, no messages) of mtq's streams."""
    return tuple(f"{API}.STREAM.INFO.{s}" for s in _MTQ_STREAMS)


def _read(stream: str) -> tuple[str, ...]:
    """Read a stream: consumers (ephemeral or named, pull or push), direct and message gets."""
    return (
        f"{API}.CONSUMER.CREATE.{stream}",
        f"{API}.CONSUMER.CREATE.{stream}.>",
        f"{API}.CONSUMER.INFO.{stream}.*",
        f"{API}.CONSUMER.DELETE.{stream}.*",
        f"{API}.CONSUMER.MSG.NEXT.{stream}.*",
        f"{API}.DIRECT.GET.{stream}",
        f"{API}.DIRECT.GET.{stream}.>",
        f"{API}.STREAM.MSG.GET.{stream}",
        f"$JS.ACK.{stream}.>",
        f"$JS.FC.{stream}.>",  # flow-control replies of push (ordered) consumers
    )


def agent(account_id: str) -> Identity:
    """Publish its own facts; consume only its own durable on its own commands; ask
    `mtq.risk.check.<its account>` (the simulator's integrated strategy).

    No stream info: its subjects filter would list every account's subjects. The agent
    learns that its streams exist from the acks of its publishes and its durable's info.
    """
    name = agent_name(account_id)
    acct = subjects.account(account_id)
    cmd = subjects.STREAM_CMD
    return Identity(
        name=name,
        pub=(
            f"mt5.{acct}.>",
            f"{API}.CONSUMER.INFO.{cmd}.{name}",
            # The server only accepts a create on this subject for this filter.
            f"{API}.CONSUMER.CREATE.{cmd}.{name}.{subjects.commands_for(acct)}",
            f"{API}.CONSUMER.MSG.NEXT.{cmd}.{name}",
            f"$JS.ACK.{cmd}.{name}.>",
            subjects.dlq(subjects.commands_for(acct)),  # a command it cannot decode
            # An integrated strategy checks its orders first (the reply comes to its inbox).
            subjects.risk_check(acct),
        ),
        sub=(f"{inbox_prefix(name)}.>",),
        max_payload=AGENT_MAX_PAYLOAD,
    )


def supervisor() -> Identity:
    """Lifecycle facts of every account, heartbeats, the `mtq-agents` service, KV reads."""
    return Identity(
        name=SUPERVISOR,
        pub=(
            "mt5.*.lifecycle",
            *_stream_info(),
            f"{API}.DIRECT.GET.{KV_STREAM}",
            f"{API}.DIRECT.GET.{KV_STREAM}.>",
            f"{API}.STREAM.MSG.GET.{KV_STREAM}",
        ),
        sub=(
            "mt5.*.health",
            f"{subjects.AGENTS_PREFIX}.>",
            "$SRV.>",
            f"{inbox_prefix(SUPERVISOR)}.>",
        ),
        responds=True,
    )


def engine() -> Identity:
    """Read MT5, write RISK, send commands, dead-letter, last ticks, the `mtq-risk` service."""
    return Identity(
        name=ENGINE,
        pub=(
            f"{subjects.RISK_PREFIX}.>",
            subjects.CMD_SUBJECTS[0],
            f"{subjects.DLQ_PREFIX}.>",
            *_stream_info(),
            *_read(subjects.STREAM_FACTS),
            *_read(subjects.STREAM_RISK),
            f"{API}.STREAM.MSG.GET.{subjects.STREAM_TICKS}",
            f"{API}.DIRECT.GET.{subjects.STREAM_TICKS}",
            f"{API}.DIRECT.GET.{subjects.STREAM_TICKS}.>",
        ),
        sub=("mtq.risk.>", "mtq.orders.>", "$SRV.>", f"{inbox_prefix(ENGINE)}.>"),
        responds=True,
    )


def _views(*extra: str) -> tuple[str, ...]:
    """Publish rights to read MT5, RISK and the status KV (stream info, consumers, gets)."""
    return (
        *_stream_info(),
        *_read(subjects.STREAM_FACTS),
        *_read(subjects.STREAM_RISK),
        *_read(KV_STREAM),
        *extra,
    )


def projector() -> Identity:
    """Read MT5, RISK and MT5_TICKS (candles), the only writer of the status KV, the
    `mtq-query` service."""
    return Identity(
        name=PROJECTOR,
        pub=_views(f"$KV.{subjects.KV_STATUS}.>", *_read(subjects.STREAM_TICKS)),
        sub=(f"{subjects.QUERY_PREFIX}.>", "$SRV.>", f"{inbox_prefix(PROJECTOR)}.>"),
        responds=True,
    )


def http_api() -> Identity:
    """Read MT5, RISK and the status KV (never write it); ask `mtq-risk` (checks of any
    account, control as `api` naming the token, show), `mtq-orders` (signals it checked the
    HMAC of, approvals, as `api` naming the token), `mtq-agents` and `mtq-query`;
    dead-letter only its own undeliverable webhooks (`dlq.api.webhook.<account>`). It
    serves nothing over NATS, so it answers no requests."""
    return Identity(
        name=HTTP_API,
        pub=_views(
            subjects.RISK_CHECK_ANY,
            subjects.risk_control(HTTP_API),
            subjects.RISK_SHOW,
            subjects.orders_submit(HTTP_API),
            subjects.orders_approve(HTTP_API),
            f"{subjects.AGENTS_PREFIX}.*",
            f"{subjects.QUERY_PREFIX}.*",
            f"{subjects.WEBHOOK_DLQ_PREFIX}.*",
        ),
        sub=(f"{inbox_prefix(HTTP_API)}.>",),
    )


def strategy_name(name: str) -> str:
    return f"{STRATEGY_PREFIX}{subjects.check_token(name, 'strategy name')}"


def strategy(name: str) -> Identity:
    """A signal provider's own identity: submit its signals (`mtq.orders.submit.<it>`, the
    engine refuses one naming another strategy), read the replies. Nothing else."""
    ident = strategy_name(name)
    return Identity(
        name=ident,
        pub=(subjects.orders_submit(ident),),
        sub=(f"{inbox_prefix(ident)}.>",),
        max_payload=AGENT_MAX_PAYLOAD,
    )


def admin() -> Identity:
    """Everything: provisioning and operators' `nats` CLI."""
    return Identity(name=ADMIN, unrestricted=True)


def all_identities(account_ids: Iterable[str], strategies: Iterable[str] = ()) -> list[Identity]:
    """mtq's identities for a config with these accounts and strategies."""
    return [
        admin(),
        supervisor(),
        engine(),
        projector(),
        http_api(),
        *(agent(a) for a in dict.fromkeys(account_ids)),
        *(strategy(s) for s in dict.fromkeys(strategies)),
    ]
