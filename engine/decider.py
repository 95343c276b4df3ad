"""Decide facts on in-memory `AccountRisk` aggregates: one code path for the engine and audit."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, assert_never

from bus import subjects
from bus.codec import DecodeError, decode_fact_of
from bus.schemas import AccountSnapshot, AgentHeartbeat, Fact, PositionOpened
from domain import AccountRisk, FactRef, PreTradeAnswer, RiskError, RiskRules, account_risk_id
from domain.group import GroupView
from engine.facts import apply_fact, fact_time, recall_fact, stamped_by_agent
from engine.messages import (
    ApprovalIn,
    CalendarIn,
    CheckIn,
    ConfigIn,
    ControlIn,
    FactIn,
    Message,
    Request,
    SignalIn,
)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
NOT_DECIDED = frozenset({"tick"})
"""Fact families risk never decides on: skipped before decoding (heartbeats only tell the
time, for the stale-feed rule)."""


@dataclass(frozen=True, slots=True)
class Applied:
    account_id: str
    new_commands: tuple[str, ...]
    """Ids of commands this fact ordered (their specs are in `outstanding_commands`)."""
    events: tuple[Any, ...] = ()
    """The decisions this fact made."""


@dataclass(frozen=True, slots=True)
class Skipped:
    """A fact risk does not decide on (lifecycle), or one that changed nothing."""


@dataclass(frozen=True, slots=True)
class Rejected:
    kind: str
    reason: str


@dataclass(frozen=True, slots=True)
class Answered:
    """A pre-trade check answered (and recorded as OrderApproved or OrderDenied)."""

    account_id: str
    answer: PreTradeAnswer
    version: int
    """The account's version after the decision (its id is `<aggregate id>/<version>`)."""
    new_commands: tuple[str, ...] = ()
    events: tuple[Any, ...] = ()


Outcome = Applied | Answered | Skipped | Rejected

SKIPPED = Skipped()


@dataclass
class Decider:
    """Holds one aggregate per account and the events not yet collected."""

    accounts: dict[str, AccountRisk] = field(default_factory=dict)
    last_seq: int = 0
    last_time: datetime = EPOCH
    """The latest time of a decided fact: when config changes are recorded."""
    _touched: dict[str, AccountRisk] = field(default_factory=dict)
    _pending: int = 0
    _clock_facts: dict[str, datetime] = field(default_factory=dict)
    """Per account, the time of its last snapshot or heartbeat decided (or recalled)."""

    def handle(self, message: Message) -> Outcome:
        """The one entry point: decide a fact, a check, a control or a config.

        Nothing raises: a bad input is `Rejected` with the reason, recording nothing.
        """
        match message:
            case FactIn(seq=seq, subject=subject, data=data, stored_at=stored_at):
                return self.decide(seq, subject, data, stored_at)
            case ConfigIn(account_id=account_id, rules=rules, at=at, actor=actor):
                changed = self.configure(account_id, rules, at, actor)
                return Applied(account_id, ()) if changed else SKIPPED
            case CheckIn() | ControlIn() | SignalIn() | ApprovalIn():
                return self._request(message)
            case CalendarIn():
                return self._calendar(message)
            case _:
                assert_never(message)

    def _calendar(self, message: CalendarIn) -> Outcome:
        account = self.accounts.get(message.account_id)
        if account is None:
            return Rejected("unknown_account", f"account {message.account_id!r} is not registered")
        before = len(account.pending_events)
        if not account.import_calendar(message.calendar, message.actor, message.at):
            return SKIPPED
        self.touch(account)
        return Applied(message.account_id, (), tuple(account.pending_events[before:]))

    def _request(self, message: Request) -> Outcome:
        account = self.accounts.get(message.account_id)
        if account is None:
            return Rejected("unknown_account", f"account {message.account_id!r} is not registered")
        before = len(account.pending_events)
        commands_before = tuple(account.outstanding_commands)
        answer: PreTradeAnswer | None = None
        try:
            match message:
                case CheckIn(order=order, market=market, at=at) if account.placement(
                    order.client_order_id
                ):
                    answer = account.place_signal(order, market, at, self.group_view(account))
                case CheckIn(order=order, market=market, at=at):
                    answer = account.check_order(order, market, at, self.group_view(account))
                case ControlIn(action=action, reason=reason, actor=actor, at=at, rebase=rebase):
                    account.control(action, reason, actor, at, rebase=rebase)
                case SignalIn(signal=signal, at=at):
                    account.receive_signal(signal, at)
                case ApprovalIn(
                    signal_id=signal_id, approve=approve, actor=actor, reason=reason, at=at
                ):
                    account.decide_approval(signal_id, approve, actor, reason, at)
        except RiskError as exc:
            return Rejected(type(exc).__name__, str(exc))
        events = tuple(account.pending_events[before:])
        if events:
            self.touch(account)
        new = self.new_commands(account, commands_before)
        if answer is not None:
            return Answered(message.account_id, answer, account.version, new, events)
        return Applied(message.account_id, new, events) if events else SKIPPED

    def decide(
        self, seq: int, subject: str, data: bytes, stored_at: datetime | None = None
    ) -> Outcome:
        """Decide one MT5 fact; bad facts are rejected with the reason, never raised."""
        self.last_seq = max(self.last_seq, seq)
        found = self._route(subject, data)
        if not isinstance(found, tuple):
            return found
        account_id, account, fact = found
        before = len(account.pending_events)
        commands_before = tuple(account.outstanding_commands)
        try:
            if stored_at is not None and stamped_by_agent(fact):
                account.check_clock_skew(fact_time(fact), stored_at)
            decided = apply_fact(account, fact, seq)
            if isinstance(fact, PositionOpened) and (group := self.group_view(account)):
                account.observe_group(group, fact.identifier, FactRef(seq, fact_time(fact)))
        except RiskError as exc:
            return Rejected(type(exc).__name__, str(exc))
        if (clock := _clock_time(fact)) is not None:
            self._clock_facts[account_id] = clock
            account.expire_signals(FactRef(seq, clock))
        if not decided or len(account.pending_events) == before:
            return SKIPPED
        self._touched[account_id] = account
        self._pending += len(account.pending_events) - before
        stamp = fact_time(fact)
        self.last_time = max(self.last_time, stamp)
        events = tuple(account.pending_events[before:])
        return Applied(account_id, self.new_commands(account, commands_before), events)

    def _route(self, subject: str, data: bytes) -> tuple[str, AccountRisk, Fact] | Outcome:
        """The account and decoded fact, or why the fact is skipped or rejected."""
        try:
            account_id, family, _ = subjects.parse_fact_subject(subject)
        except subjects.SubjectError as exc:
            return Rejected("subject", str(exc))
        if family in NOT_DECIDED:
            return SKIPPED
        account = self.accounts.get(account_id)
        if account is None:
            return Rejected("unknown_account", f"account {account_id!r} is not registered")
        try:
            return account_id, account, decode_fact_of(account_id, family, subject, data)
        except DecodeError as exc:
            return Rejected("decode", exc.reason)

    def recall(self, seq: int, subject: str, data: bytes) -> None:
        """Re-observe a fact decided before a restart (it records nothing)."""
        found = self._route(subject, data)
        if isinstance(found, tuple):
            account_id, account, fact = found
            recall_fact(account, fact, seq)
            if (clock := _clock_time(fact)) is not None:
                self._clock_facts[account_id] = clock

    def group_view(self, account: AccountRisk) -> GroupView | None:
        """`account`'s group now, from its registered members (None: in no group). The
        group's accounts are all decided here, in log order, so a replay sees the same."""
        group = account.rules.group
        if group is None:
            return None
        members = tuple(
            self.accounts[a].group_member() for a in group.accounts if a in self.accounts
        )
        return GroupView(group, account.account_id, members)

    def account_ref(self, account_id: str) -> FactRef | None:
        """Where a signal or approval of `account_id` is decided: after the last fact
        decided, at the time of the account's last snapshot or heartbeat (None: none yet)."""
        account = self.accounts.get(account_id)
        time = self._clock_facts.get(account_id)
        if time is None and account is not None:
            time = account.latest_snapshot_at
        return None if time is None else FactRef(self.last_seq, time)

    def new_commands(self, account: AccountRisk, before: tuple[str, ...]) -> tuple[str, ...]:
        """Commands `account` ordered since its outstanding ids were `before`."""
        return tuple(c for c in account.outstanding_commands if c not in before)

    def touched_accounts(self) -> list[AccountRisk]:
        return list(self._touched.values())

    @property
    def pending_count(self) -> int:
        """Events decided and not yet collected."""
        return self._pending

    def touch(self, account: AccountRisk) -> None:
        """Mark an aggregate changed outside `decide` (config, pre-trade, control)."""
        self._touched[account.account_id] = account
        self._pending = sum(len(a.pending_events) for a in self._touched.values())

    def configure(
        self, account_id: str, rules: RiskRules, at: FactRef, actor: str | None = None
    ) -> bool:
        """Register an account or record its new limits; False when nothing changed."""
        account = self.accounts.get(account_id)
        if account is None:
            account = AccountRisk.register(account_id, rules, at)
            self.accounts[account_id] = account
        elif account.rules == rules:
            return False
        else:
            account.change_limits(rules, at, actor)
        self.touch(account)
        return True

    def collect(self) -> list[Any]:
        """Every pending event of the aggregates touched since the last collect."""
        events: list[Any] = []
        for account in self._touched.values():
            events.extend(account.collect_events())
        self._touched.clear()
        self._pending = 0
        return events

    @property
    def dirty(self) -> bool:
        return bool(self._touched)

    @staticmethod
    def aggregate_id(account_id: str) -> Any:
        return account_risk_id(account_id)


def _clock_time(fact: Fact) -> datetime | None:
    """The agent's clock a snapshot or heartbeat carries: what times signals (else None)."""
    match fact:
        case AccountSnapshot() | AgentHeartbeat():
            return fact.time
        case _:
            return None
