"""Every NATS subject, stream, bucket and service name mtq uses (docs/architecture.md §2)."""

from __future__ import annotations

import re
from typing import Final

TOKEN_RULE: Final = "letters, digits, '-' and '_' only, 1 to 64 characters"
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

STREAM_TICKS: Final = "MT5_TICKS"
STREAM_FACTS: Final = "MT5"
STREAM_RISK: Final = "RISK"
STREAM_CMD: Final = "CMD"
STREAM_DLQ: Final = "DLQ"
KV_STATUS: Final = "mtq_status"

SERVICE_RISK: Final = "mtq-risk"
SERVICE_QUERY: Final = "mtq-query"
SERVICE_AGENTS: Final = "mtq-agents"
SERVICE_ORDERS: Final = "mtq-orders"

RISK_CHECK_PREFIX: Final = "mtq.risk.check"
RISK_CONTROL_PREFIX: Final = "mtq.risk.control"
RISK_CHECK_ANY: Final = f"{RISK_CHECK_PREFIX}.*"
"""What the engine serves: `mtq.risk.check.<account>`, the account bound by the subject."""
RISK_CONTROL_ANY: Final = f"{RISK_CONTROL_PREFIX}.*"
"""What the engine serves: `mtq.risk.control.<identity>`, the actor bound by the subject."""
RISK_SHOW: Final = "mtq.risk.show"
ORDERS_SUBMIT_PREFIX: Final = "mtq.orders.submit"
ORDERS_APPROVE_PREFIX: Final = "mtq.orders.approve"
ORDERS_SUBMIT_ANY: Final = f"{ORDERS_SUBMIT_PREFIX}.*"
"""What the engine serves: `mtq.orders.submit.<identity>`, the submitter bound by the subject."""
ORDERS_APPROVE_ANY: Final = f"{ORDERS_APPROVE_PREFIX}.*"
"""What the engine serves: `mtq.orders.approve.<identity>`, the approver bound by the subject."""
RISK_CALENDAR_PREFIX: Final = "mtq.risk.calendar"
RISK_CALENDAR_ANY: Final = f"{RISK_CALENDAR_PREFIX}.*"
"""What the engine serves: `mtq.risk.calendar.<identity>`, a news calendar put in force."""
RISK_NEWS: Final = "mtq.risk.news"
"""What the engine serves: the news calendar in force."""
RISK_RELOAD_PREFIX: Final = "mtq.risk.reload"
RISK_RELOAD_ANY: Final = f"{RISK_RELOAD_PREFIX}.*"
"""What the engine serves: `mtq.risk.reload.<identity>`, the config re-read by that actor."""
QUERY_PREFIX: Final = "mtq.query"
QUERY_ENDPOINTS: Final = (
    "status",
    "positions",
    "reconciliation",
    "risk",
    "equity",
    "analytics",
    "bars",
)
AGENTS_PREFIX: Final = "mtq.agents"

POSITION_KINDS: Final = ("opened", "modified", "closed")
ORDER_KINDS: Final = ("executed", "rejected")
COMMAND_KINDS: Final = (
    "close_position",
    "close_all",
    "set_trading_state",
    "place_order",
    "modify_position",
)

DLQ_PREFIX: Final = "dlq"
WEBHOOK_DLQ_PREFIX: Final = f"{DLQ_PREFIX}.api.webhook"
"""Where the HTTP API dead-letters an alert no webhook took: `dlq.api.webhook.<account>`."""
RISK_PREFIX: Final = "risk"
"""Prefix of the risk engine's event store: `risk.events.<aggregate id>.<version>.<Type>`."""


class SubjectError(ValueError):
    """A subject token or subject name breaks mtq's naming rules."""


def is_token(value: str) -> bool:
    """Tell whether `value` is a safe subject token (account id, symbol, id)."""
    return bool(_TOKEN.match(value))


def check_token(value: str, what: str = "token") -> str:
    """Return `value` if it is a safe subject token, else raise naming it and the rule."""
    if not isinstance(value, str) or not _TOKEN.match(value):
        raise SubjectError(f"invalid {what} {value!r}: {TOKEN_RULE}")
    return value


def account(value: str) -> str:
    return check_token(value, "account id")


def symbol(value: str) -> str:
    return check_token(value, "symbol")


# --- facts from agents -------------------------------------------------------


def tick(account_id: str, symbol_name: str) -> str:
    return f"mt5.{account(account_id)}.tick.{symbol(symbol_name)}"


def position(account_id: str, kind: str) -> str:
    if kind not in POSITION_KINDS:
        raise SubjectError(f"invalid position event kind {kind!r}: one of {POSITION_KINDS}")
    return f"mt5.{account(account_id)}.position.{kind}"


def account_snapshot(account_id: str) -> str:
    return f"mt5.{account(account_id)}.account"


def health(account_id: str) -> str:
    return f"mt5.{account(account_id)}.health"


def order(account_id: str, kind: str) -> str:
    if kind not in ORDER_KINDS:
        raise SubjectError(f"invalid order event kind {kind!r}: one of {ORDER_KINDS}")
    return f"mt5.{account(account_id)}.order.{kind}"


def lifecycle(account_id: str) -> str:
    return f"mt5.{account(account_id)}.lifecycle"


# --- commands ------------------------------------------------------------------


def command(account_id: str, kind: str) -> str:
    if kind not in COMMAND_KINDS:
        raise SubjectError(f"invalid command kind {kind!r}: one of {COMMAND_KINDS}")
    return f"cmd.{account(account_id)}.{kind}"


def commands_for(account_id: str) -> str:
    return f"cmd.{account(account_id)}.>"


def commands_of_kind(kind: str) -> str:
    """Every account's commands of one kind, `cmd.*.<kind>` (for watching, not sending)."""
    if kind not in COMMAND_KINDS:
        raise SubjectError(f"invalid command kind {kind!r}: one of {COMMAND_KINDS}")
    return f"cmd.*.{kind}"


# --- risk event store ----------------------------------------------------------------


def risk_events(aggregate_id: str, version: int, event_type: str) -> str:
    aggregate = check_token(aggregate_id, "aggregate id")
    return f"{RISK_PREFIX}.events.{aggregate}.{version}.{event_type}"


# --- the risk service -----------------------------------------------------------------


def risk_check(account_id: str) -> str:
    """`mtq.risk.check.<account>`: a pre-trade check of that account only (agents may
    publish only their own; the engine refuses a body naming another account)."""
    return f"{RISK_CHECK_PREFIX}.{account(account_id)}"


def risk_calendar(identity: str) -> str:
    """`mtq.risk.calendar.<identity>`: a news calendar imported by `identity`."""
    return f"{RISK_CALENDAR_PREFIX}.{check_token(identity, 'identity')}"


def risk_reload(identity: str) -> str:
    """`mtq.risk.reload.<identity>`: the engine re-reads its config; `identity` is the actor."""
    return f"{RISK_RELOAD_PREFIX}.{check_token(identity, 'identity')}"


def risk_control(identity: str) -> str:
    """`mtq.risk.control.<identity>`: a control request whose recorded actor is `identity`
    (each identity may publish only its own)."""
    return f"{RISK_CONTROL_PREFIX}.{check_token(identity, 'identity')}"


def orders_submit(identity: str) -> str:
    """`mtq.orders.submit.<identity>`: a signal submitted by `identity` (`api`, `admin` or
    `strategy-<name>`, which may submit only for its own strategy)."""
    return f"{ORDERS_SUBMIT_PREFIX}.{check_token(identity, 'identity')}"


def orders_approve(identity: str) -> str:
    """`mtq.orders.approve.<identity>`: an approval or rejection recorded as by `identity`."""
    return f"{ORDERS_APPROVE_PREFIX}.{check_token(identity, 'identity')}"


def last_token(subject: str) -> str:
    """The last token of a subject (the bound account or identity of a risk request)."""
    return subject.rsplit(".", 1)[-1]


# --- read-model queries --------------------------------------------------------------


def query(endpoint: str) -> str:
    """`mtq.query.<endpoint>` of the `mtq-query` service."""
    if endpoint not in QUERY_ENDPOINTS:
        raise SubjectError(f"invalid query endpoint {endpoint!r}: one of {QUERY_ENDPOINTS}")
    return f"{QUERY_PREFIX}.{endpoint}"


# --- dead letters --------------------------------------------------------------------


def dlq(original_subject: str) -> str:
    """Dead-letter subject for a message that arrived on `original_subject`."""
    if not original_subject or " " in original_subject:
        raise SubjectError(f"invalid subject {original_subject!r} for the dead-letter queue")
    return f"{DLQ_PREFIX}.{original_subject}"


def webhook_dlq(account_id: str) -> str:
    return f"{WEBHOOK_DLQ_PREFIX}.{account(account_id)}"


def parse_fact_subject(subject: str) -> tuple[str, str, str | None]:
    """Split `mt5.<acct>.<family>[.<rest>]` into (account, family, rest)."""
    parts = subject.split(".", 3)
    if len(parts) < 3 or parts[0] != "mt5":
        raise SubjectError(f"not an mt5 fact subject: {subject!r}")
    rest = parts[3] if len(parts) == 4 else None
    return parts[1], parts[2], rest


# Stream subject filters (docs/architecture.md §2 table).
TICKS_SUBJECTS: Final = ("mt5.*.tick.*",)
FACTS_SUBJECTS: Final = (
    "mt5.*.position.*",
    "mt5.*.account",
    "mt5.*.health",
    "mt5.*.order.*",
    "mt5.*.lifecycle",
)
RISK_SUBJECTS: Final = ("risk.>",)
CMD_SUBJECTS: Final = ("cmd.*.>",)
DLQ_SUBJECTS: Final = ("dlq.>",)
ACCOUNT_SNAPSHOTS: Final = "mt5.*.account"
"""Every account snapshot in MT5 (what the engine re-reads on start)."""


def direct_get(stream: str) -> str:
    """JetStream's direct get of `stream` taking a JSON request (batches, `up_to_seq`)."""
    return f"$JS.API.DIRECT.GET.{check_token(stream, 'stream')}"


# --- exports (issue 18) ------------------------------------------------------------


def account_facts(account_id: str) -> str:
    """Every fact of one account in MT5: `mt5.<acct>.>`."""
    return f"mt5.{account(account_id)}.>"


def aggregate_events(aggregate_id: str) -> str:
    """Every decision of one aggregate in RISK: `risk.events.<aggregate>.>`."""
    return f"{RISK_PREFIX}.events.{check_token(aggregate_id, 'aggregate id')}.>"


# --- the rest of the names (issue 22: no subject is spelled outside this module) ------

FACTS_PREFIX: Final = "mt5"
COMMANDS_PREFIX: Final = "cmd"
ALL_FACTS: Final = f"{FACTS_PREFIX}.>"
"""Everything in MT5 (ticks have a stream of their own): one filter reads far faster than
several."""
HEALTH_ANY: Final = f"{FACTS_PREFIX}.*.health"
LIFECYCLE_ANY: Final = f"{FACTS_PREFIX}.*.lifecycle"
COMMANDS_ANY: Final = f"{COMMANDS_PREFIX}.*.>"
RISK_SERVICE_ANY: Final = "mtq.risk.>"
ORDERS_SERVICE_ANY: Final = "mtq.orders.>"
RISK_EVENTS_ANY: Final = f"{RISK_PREFIX}.events.>"
EVENTSTORE_PREFIX: Final = f"{RISK_PREFIX}.application"
"""Default subject prefix of the event store's application events."""
QUERY_ANY: Final = f"{QUERY_PREFIX}.>"
AGENTS_ANY: Final = f"{AGENTS_PREFIX}.>"
PROJECTOR_CONTROL_PREFIX: Final = "mtq.projector"
PROJECTOR_REBUILD: Final = f"{PROJECTOR_CONTROL_PREFIX}.rebuild"
"""Ask the running projector to rebuild its views (only admin may publish it)."""
PROJECTOR_REBUILD_PROGRESS: Final = f"{PROJECTOR_CONTROL_PREFIX}.rebuild.progress"
"""Where the projector publishes a rebuild's progress (RebuildProgress)."""
JS_API: Final = "$JS.API"
JS_ACK_PREFIX: Final = "$JS.ACK"
JS_FLOW_CONTROL_PREFIX: Final = "$JS.FC"
KV_PREFIX: Final = "$KV"
SERVICE_DISCOVERY_ANY: Final = "$SRV.>"
SERVICE_INFO: Final = "$SRV.INFO"
INBOX_ROOT: Final = "_INBOX"
PLACEHOLDERS: Final = {"account": "__account__", "symbol": "__symbol__", "identity": "__id__"}
"""Tokens standing for `{account}`, `{symbol}`, `{identity}` in documented templates."""


def is_fact(subject: str) -> bool:
    return subject.startswith(f"{FACTS_PREFIX}.")


def is_command(subject: str) -> bool:
    return subject.startswith(f"{COMMANDS_PREFIX}.")


def inbox(name: str) -> str:
    """`_INBOX.<name>`: the inbox prefix of an identity's clients."""
    return f"{INBOX_ROOT}.{name}"


def kv_bucket(bucket: str) -> str:
    """Every key of a KV bucket: `$KV.<bucket>.>`."""
    return f"{KV_PREFIX}.{check_token(bucket, 'bucket')}.>"


def js_api(path: str) -> str:
    """A JetStream API subject: `$JS.API.<path>`, e.g. `CONSUMER.CREATE.MT5`."""
    return f"{JS_API}.{path}"


def js_ack(path: str) -> str:
    """`$JS.ACK.<path>`: acks (and their reply subjects) of a stream's consumers."""
    return f"{JS_ACK_PREFIX}.{path}"


def js_flow_control(path: str) -> str:
    return f"{JS_FLOW_CONTROL_PREFIX}.{path}"


def template(subject: str) -> str:
    """A subject built with `PLACEHOLDERS`, written back as `{account}`, `{symbol}`…"""
    for name, token in PLACEHOLDERS.items():
        subject = subject.replace(token, "{" + name + "}")
    return subject


def agents_endpoint(name: str) -> str:
    """`mtq.agents.<name>` of the `mtq-agents` service (e.g. `list`)."""
    return f"{AGENTS_PREFIX}.{name}"
