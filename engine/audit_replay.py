"""Audit: replay the fact log through the domain and compare with what RISK recorded.

`verify` replays with the limits recorded at each point and must reproduce every recorded
decision byte for byte. `whatif` replays the same facts and requests under another config
and lists the decisions that would have differed. Both use the engine's own `Decider`.
"""

from __future__ import annotations

import difflib
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Mapper, StoredEvent

from bus.reader import RawFact
from domain import AccountRisk, FactRef, RiskRules
from engine.decider import EPOCH, Decider
from engine.inputs import is_input, recorded_input
from engine.messages import FactIn

Progress = Callable[[int], None]


@dataclass(frozen=True)
class RecordedEvent:
    stored: StoredEvent
    event: Any

    @property
    def type_name(self) -> str:
        return type(self.event).__name__


@dataclass
class Recorded:
    """What RISK holds: every aggregate's events in version order, and the inputs."""

    by_aggregate: dict[UUID, list[RecordedEvent]] = field(default_factory=dict)
    tracking: int = 0

    @classmethod
    def from_stored(
        cls, stored_events: Iterable[StoredEvent], mapper: Mapper[UUID], tracking: int
    ) -> Recorded:
        recorded = cls(tracking=tracking)
        for stored in stored_events:
            entry = RecordedEvent(stored, mapper.to_domain_event(stored))
            aggregate_id = UUID(str(stored.originator_id))
            recorded.by_aggregate.setdefault(aggregate_id, []).append(entry)
        for events in recorded.by_aggregate.values():
            events.sort(key=lambda e: e.stored.originator_version)
            # RISK is read after its tracking position; a live engine may have committed more
            # since. Keep what follows from facts up to that position (a decision's seq only
            # grows with its version), so a verify of a running system compares like for like.
            while events and events[-1].event.seq > tracking:
                events.pop()
        return recorded

    def with_groups(self, accounts: set[str] | None) -> set[str] | None:
        """`accounts` and every account their recorded groups name: a group's accounts are
        decided together (each one's pre-trade reads the others), so replayed together."""
        if accounts is None:
            return None
        found = set(accounts)
        grown = True
        while grown:
            grown = False
            for events in self.by_aggregate.values():
                for e in events:
                    if e.type_name in ("AccountRegistered", "LimitsChanged") and (
                        e.event.account_id in found
                    ):
                        members = set((e.event.rules.get("group") or {}).get("accounts", ()))
                        grown = grown or not members <= found
                        found |= members
        return found

    def inputs(self, accounts: set[str] | None = None) -> list[RecordedEvent]:
        """Config, pre-trade and control decisions: replayed at the fact they followed."""
        found = [
            e
            for events in self.by_aggregate.values()
            for e in events
            if is_input(e.event) and (accounts is None or e.event.account_id in accounts)
        ]
        found.sort(key=lambda e: (e.event.seq, e.stored.originator_version))
        return found


@dataclass(frozen=True)
class Difference:
    account_id: str
    version: int
    recorded: str
    replayed: str

    def describe(self) -> str:
        return (
            f"first difference: account {self.account_id}, decision {self.version}\n"
            f"  recorded: {self.recorded}\n  replayed: {self.replayed}"
        )


@dataclass
class VerifyResult:
    facts: int = 0
    decisions: int = 0
    accounts: int = 0
    difference: Difference | None = None

    @property
    def identical(self) -> bool:
        return self.difference is None

    def summary(self) -> str:
        if self.difference is not None:
            return self.difference.describe()
        return (
            f"identical: {self.facts} facts, {self.decisions} decisions, {self.accounts} accounts"
        )


class Replay:
    """Drives a fresh `Decider` with facts and recorded inputs in the engine's order."""

    def __init__(self, inputs: list[RecordedEvent], override: Mapping[str, RiskRules] | None):
        self.decider = Decider()
        self._inputs = inputs
        self._next = 0
        self._override = override
        if override is not None:
            at = FactRef(0, _first_time(inputs))
            for account_id, rules in sorted(override.items()):
                self.decider.configure(account_id, rules, at)

    def feed(self, raw: RawFact) -> None:
        self.apply_inputs(before_seq=raw.seq)
        self.decider.handle(FactIn(raw.seq, raw.subject, raw.data, raw.stored_at))

    def apply_inputs(self, before_seq: int | None = None) -> None:
        while self._next < len(self._inputs):
            entry = self._inputs[self._next]
            if before_seq is not None and entry.event.seq >= before_seq:
                return
            self._next += 1
            if self._override is not None and entry.type_name in (
                "AccountRegistered",
                "LimitsChanged",
            ):
                continue
            message = recorded_input(entry.event)
            if message is not None:  # whatif: another config's state may refuse it (Rejected)
                self.decider.handle(message)

    def collect(self) -> list[tuple[AccountRisk, Sequence[Any]]]:
        touched = self.decider.touched_accounts()
        return [(account, account.collect_events()) for account in touched]


def _first_time(inputs: list[RecordedEvent]) -> Any:
    return inputs[0].event.timestamp if inputs else EPOCH


async def verify(
    facts: AsyncIterator[RawFact],
    recorded: Recorded,
    mapper: Mapper[UUID],
    *,
    accounts: set[str] | None = None,
    progress: Progress | None = None,
) -> VerifyResult:
    """Replay `facts` (in order, up to the recorded tracking) and compare every decision."""
    replay = Replay(recorded.inputs(accounts), None)
    result = VerifyResult()
    positions: dict[UUID, int] = {}

    def compare() -> Difference | None:
        for account, events in replay.collect():
            expected = recorded.by_aggregate.get(account.id, [])
            for event in events:
                index = positions.get(account.id, 0)
                positions[account.id] = index + 1
                result.decisions += 1
                got = mapper.to_stored_event(event)
                want = expected[index].stored if index < len(expected) else None
                if want is None or want.topic != got.topic or want.state != got.state:
                    return Difference(
                        account.account_id,
                        got.originator_version,
                        _describe(want),
                        _describe(got),
                    )
        return None

    async for raw in facts:
        if raw.seq > recorded.tracking:
            break
        replay.feed(raw)
        result.facts += 1
        if progress is not None and result.facts % 10_000 == 0:
            progress(raw.seq)
        if result.facts % 5_000 == 0 and (diff := compare()) is not None:
            result.difference = diff
            return result
    replay.apply_inputs()
    result.difference = compare() or _missing(recorded, positions, accounts)
    result.accounts = len(replay.decider.accounts)
    return result


def _missing(
    recorded: Recorded, positions: dict[UUID, int], accounts: set[str] | None
) -> Difference | None:
    for aggregate_id, events in recorded.by_aggregate.items():
        replayed = positions.get(aggregate_id, 0)
        if replayed < len(events):
            entry = events[replayed]
            account_id = getattr(entry.event, "account_id", str(aggregate_id))
            if accounts is not None and account_id not in accounts:
                continue
            return Difference(
                account_id, entry.stored.originator_version, _describe(entry.stored), "nothing"
            )
    return None


def _describe(stored: StoredEvent | None) -> str:
    if stored is None:
        return "nothing"
    name = stored.topic.rsplit(":", 1)[-1].rsplit(".", 1)[-1]
    return f"{name} {stored.state.decode('utf-8', errors='replace')}"


@dataclass
class WhatIfResult:
    facts: int = 0
    differences: dict[str, list[str]] = field(default_factory=dict)

    def lines(self) -> list[str]:
        if not self.differences:
            return [f"no decision would differ over {self.facts} facts"]
        out = [f"decisions that differ over {self.facts} facts "
               "('-' recorded, '+' under the other config):"]  # fmt: skip
        for account_id, diff in sorted(self.differences.items()):
            out.append(f"account {account_id}:")
            out.extend(f"  {line}" for line in diff)
        return out


async def whatif(
    facts: AsyncIterator[RawFact],
    recorded: Recorded,
    rules: Mapping[str, RiskRules],
    *,
    accounts: set[str] | None = None,
    progress: Progress | None = None,
) -> WhatIfResult:
    """Replay under `rules` and list, per account, the decisions that differ."""
    replay = Replay(recorded.inputs(accounts), rules)
    result = WhatIfResult()
    replayed: dict[str, list[str]] = {}
    async for raw in facts:
        if raw.seq > recorded.tracking:
            break
        replay.feed(raw)
        result.facts += 1
        if progress is not None and result.facts % 10_000 == 0:
            progress(raw.seq)
        if result.facts % 5_000 == 0:
            _summarise_into(replayed, replay.collect())
    replay.apply_inputs()
    _summarise_into(replayed, replay.collect())
    before: dict[str, list[str]] = {}
    for events in recorded.by_aggregate.values():
        for entry in events:
            account_id = getattr(entry.event, "account_id", "")
            if accounts is None or account_id in accounts:
                before.setdefault(account_id, []).append(decision_line(entry.event))
    for account_id in sorted(set(before) | set(replayed)):
        old = [x for x in before.get(account_id, []) if not _is_config(x)]
        new = [x for x in replayed.get(account_id, []) if not _is_config(x)]
        diff = [
            f"{line[0]} {line[1:]}"  # "- " recorded only, "+ " under the other config only
            for line in difflib.unified_diff(old, new, "recorded", "whatif", n=0, lineterm="")
            if line[:1] in "+-" and not line.startswith(("+++", "---"))
        ]
        if diff:
            result.differences[account_id] = sorted(diff, key=_seq_of)
    return result


def _seq_of(diff_line: str) -> tuple[int, int]:
    """Order differences by the fact sequence they follow; at one sequence, `-` before `+`."""
    words = diff_line.split(maxsplit=3)
    seq = int(words[2]) if len(words) > 2 and words[2].isdigit() else -1
    return seq, 0 if diff_line.startswith("-") else 1


def _summarise_into(
    into: dict[str, list[str]], collected: list[tuple[AccountRisk, Sequence[Any]]]
) -> None:
    for account, events in collected:
        into.setdefault(account.account_id, []).extend(decision_line(e) for e in events)


def _is_config(line: str) -> bool:
    return " AccountRegistered" in line or " LimitsChanged" in line


_SKIP_FIELDS = frozenset(
    {"originator_id", "originator_version", "timestamp", "account_id", "seq", "rules", "command_id"}
)


def decision_line(event: Any) -> str:
    """A decision as one comparable line: fact sequence, type and its own fields."""
    fields = {k: v for k, v in vars(event).items() if k not in _SKIP_FIELDS}
    shown = " ".join(f"{k}={_short(v)}" for k, v in sorted(fields.items()))
    return f"seq {getattr(event, 'seq', '?')} {type(event).__name__} {shown}".rstrip()


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."
