"""Replay for audits: one account's facts and decisions in the projector's order, and its views
as of a time (time travel).

The order is the projector's merge of MT5 and RISK as a rebuild makes it: decision `i` goes
before the first fact whose sequence is above the highest `seq` named by decisions 1..i (a
decision waits behind the ones recorded before it). That needs every decision's `seq`, so
RISK is read whole; MT5 only on the account's subjects (one filter).

As of T is the prefix of that order up to the first event stamped after T (fact times as the
projector stamps them; a decision's timestamp is its fact's), fed into fresh views in an
in-memory database and read with `projections.queries`, the projector's own code.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal

import msgspec
from nats.js.client import JetStreamContext
from nats.js.errors import NotFoundError

from bus import subjects
from bus.codec import DecodeError, decode_fact
from bus.reader import FactReader, RawFact
from bus.schemas import PositionClosed, PositionModified, PositionOpened
from bus.schemas.base import from_msc
from bus.schemas.query import PositionsQuery, RiskQuery, StatusQuery
from projections import queries
from projections.db import open_database
from projections.projector import RISK_FILTERS
from projections.settings import AccountSettings
from projections.views import Views, decision_seq, decode_decision, loads

Source = Literal["MT5", "RISK"]
Progress = Callable[[int], None]
_HIDDEN: Final = frozenset(
    {"account_id", "seq", "timestamp", "originator_id", "originator_version", "originator_topic"}
)
ALL: Final = 1_000_000_000
"""A query limit no account reaches."""


class ReplayError(Exception):
    """Bad input for a replay (unknown account, nothing before the time asked for)."""


@dataclass(frozen=True)
class Entry:
    """One event of the account's log: an MT5 fact or a RISK decision."""

    source: Source
    seq: int
    """MT5 stream sequence, or RISK notification id."""
    subject: str
    kind: str
    time: datetime | None
    """None: the event carries no time it can be placed by (an undecodable one)."""
    data: bytes = field(repr=False)
    body: dict[str, Any] = field(repr=False)

    def doc(self) -> dict[str, Any]:
        """A JSON line: where it is, when, what; a decision's fields are what it changed."""
        fields = {k: v for k, v in self.body.items() if k not in _HIDDEN and k != "type"}
        doc: dict[str, Any] = {
            "source": self.source,
            "seq": self.seq,
            "time": None if self.time is None else self.time.isoformat(),
            "type": self.kind,
            "subject": self.subject,
        }
        if self.source == "RISK":
            doc["fact_seq"] = decision_seq(self.body)
            doc["changed"] = fields
        else:
            doc["fields"] = fields
        return doc


@dataclass
class AccountLog:
    """The account's facts and decisions, each decision with the key that places it."""

    account_id: str
    facts: list[RawFact] = field(default_factory=list)
    decisions: list[tuple[RawFact, dict[str, Any] | None, int]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.facts and not self.decisions

    def merged(self) -> Iterator[Entry]:
        """Every event in the projector's order."""
        facts, decisions = self.facts, self.decisions
        i = j = 0
        while i < len(facts) or j < len(decisions):
            if j < len(decisions) and (i == len(facts) or decisions[j][2] < facts[i].seq):
                raw, body, _ = decisions[j]
                j += 1
                yield _decision_entry(raw, body)
            else:
                yield _fact_entry(facts[i])
                i += 1


def _fact_entry(raw: RawFact) -> Entry:
    try:
        fact = decode_fact(raw.subject, raw.data)
    except DecodeError:
        return Entry("MT5", raw.seq, raw.subject, "undecodable", None, raw.data, {})
    body = loads(raw.data)
    return Entry("MT5", raw.seq, raw.subject, type(fact).__name__, fact_time(fact), raw.data,
                 body if isinstance(body, dict) else {})  # fmt: skip


def _decision_entry(raw: RawFact, body: dict[str, Any] | None) -> Entry:
    kind = raw.subject.rsplit(".", 1)[-1]
    time = None
    if body is not None:
        with contextlib.suppress(KeyError, TypeError, ValueError):
            time = datetime.fromisoformat(str(body["timestamp"]))
    return Entry("RISK", raw.seq, raw.subject, kind, time, raw.data, body or {})


def fact_time(fact: Any) -> datetime:
    """The time the projector stamps a fact with (a position's event time, else `time`)."""
    if isinstance(fact, PositionClosed):
        return from_msc(fact.close_time_msc)
    if isinstance(fact, PositionOpened | PositionModified):
        return from_msc(fact.time_msc)
    value: datetime = fact.time
    return value


# --- reading ------------------------------------------------------------------------------


async def log_size(js: JetStreamContext, account_id: str) -> tuple[int, int]:
    """The account's facts in MT5 and every decision in RISK now (for a progress total)."""
    acct = subjects.account(account_id)
    info = await js.stream_info(subjects.STREAM_FACTS, subjects_filter=subjects.account_facts(acct))
    facts = sum((info.state.subjects or {}).values())
    try:
        last = await js.get_last_msg(subjects.STREAM_RISK, RISK_FILTERS[0])
    except NotFoundError:
        return facts, 0
    return facts, int(last.seq or 0)


async def read_account_log(
    js: JetStreamContext, account_id: str, *, progress: Progress | None = None
) -> AccountLog:
    """The account's facts and every decision (kept: the account's) as the logs hold them now.

    `progress` receives the number of events read so far.
    """
    facts_total, risk_last = await log_size(js, account_id)
    log = AccountLog(account_id)
    done = 0

    def step(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(done)

    if facts_total:
        acct = subjects.account(account_id)
        async for batch in _batches(js, subjects.STREAM_FACTS, (subjects.account_facts(acct),)):
            log.facts.extend(batch)
            step(len(batch))
    if risk_last:
        highest = 0
        async for batch in _batches(js, subjects.STREAM_RISK, RISK_FILTERS, until=risk_last):
            for raw in batch:
                body = decode_decision(raw.data)
                highest = max(highest, decision_seq(body))
                if body is not None and body.get("account_id") == account_id:
                    log.decisions.append((raw, body, highest))
            step(len(batch))
    return log


async def _batches(
    js: JetStreamContext, stream: str, filters: tuple[str, ...], until: int | None = None
) -> Any:
    """Batches from the start of `stream` on `filters` until nothing is pending (or `until`)."""
    reader = FactReader(lambda: js, 1, stream=stream, filters=filters)
    idle = 0
    try:
        while idle < 3:
            batch = await reader.fetch(1.0)
            idle = 0 if batch else idle + 1
            if until is not None:
                batch = [raw for raw in batch if raw.seq <= until]
            if batch:
                yield batch
            if until is not None and reader.next_seq > until:
                return
            if batch and reader.pending == 0 and not reader.buffered:
                return
    finally:
        await reader.close()


# --- listing and time travel --------------------------------------------------------------


def between(
    entries: Iterator[Entry], start: datetime | None, end: datetime | None
) -> Iterator[Entry]:
    """Entries stamped within [start, end] (either open); unstamped ones only when both are."""
    for entry in entries:
        if entry.time is None:
            if start is None and end is None:
                yield entry
            continue
        if start is not None and entry.time < start:
            continue
        if end is not None and entry.time > end:
            continue
        yield entry


def views_at(log: AccountLog, settings: AccountSettings, at: datetime) -> Views:
    """Fresh views fed with the account's events up to the first one stamped after `at`."""
    views = Views({log.account_id: settings})
    for entry in log.merged():
        if entry.time is not None and entry.time > at:
            break
        if entry.source == "MT5":
            views.apply_fact(entry.seq, entry.subject, entry.data)
        else:
            views.apply_decision(entry.seq, entry.subject, entry.body or entry.data)
    return views


def state_at(log: AccountLog, settings: AccountSettings, at: datetime) -> dict[str, Any]:
    """Status, positions (open and closed) and risk of the account as the projector showed
    them at `at`; ReplayError when nothing of the account happened by then."""
    views = views_at(log, settings, at)
    db = open_database("sqlite:///:memory:")
    try:
        with db.transaction() as cur:
            views.save(cur)
        by_id: Mapping[str, AccountSettings] = {log.account_id: settings}
        account = log.account_id
        try:
            [status] = queries.status(db, StatusQuery(account=account), by_id, now=at)
        except queries.UnknownAccount:
            raise ReplayError(
                f"account {account} has no events at or before {at.isoformat()}"
            ) from None
        positions = queries.positions(db, PositionsQuery(account=account, state="all", limit=ALL))
        try:
            risk, events = queries.risk(db, RiskQuery(account=account, limit=ALL))
        except queries.UnknownAccount:
            risk, events = [], []
    finally:
        db.close()
    return {
        "account_id": account,
        "at": at.isoformat(),
        "status": status,
        "positions": positions,
        "risk": risk[0] if risk else None,
        "risk_events": msgspec.to_builtins(events),
    }
