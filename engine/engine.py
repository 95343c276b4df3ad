"""The risk engine: follows MT5 facts exactly once, decides, records, commands."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, assert_never

from nats.js.client import JetStreamContext

from bus import subjects
from bus.reader import FactReader, RawFact, read_facts
from bus.schemas.base import utc_now
from domain import AccountRisk, FactRef, RiskRules
from domain.news import Calendar
from engine.commands import CommandSender, build_command
from engine.decider import Answered, Applied, Decider, Outcome, Rejected, Skipped
from engine.messages import CalendarIn, ConfigIn, FactIn, Request
from engine.pipeline import MAX_GROUP_EVENTS, CommitPipeline, Group
from engine.store import RiskStore

log = logging.getLogger(__name__)

CHECKPOINT_S = 1.0
SNAPSHOT_EVERY = 200
"""Versions between two snapshots of an account."""

DeadLetter = Callable[[RawFact, Rejected], Coroutine[Any, Any, None]]
Clock = Callable[[], datetime]


NOTABLE = frozenset({
    "DrawdownWarning", "DrawdownBreached", "LiquidationPending", "LiquidationCancelled",
    "LiquidationOrdered", "PositionLimitViolated", "PositionCloseOrdered", "TradingStateChanged",
})  # fmt: skip


def report_notable(account_id: str, events: tuple[Any, ...]) -> None:
    """Log the decisions people watch for (the `mtq up` console shows them)."""
    for event in events:
        name = type(event).__name__
        if name in NOTABLE:
            detail = getattr(event, "reason", "") or getattr(event, "rule", "")
            state = getattr(event, "state", "")
            log.warning("%s: %s %s%s", account_id, name, f"{state} " if state else "", detail)


@dataclass
class EngineStats:
    facts: int = 0
    decided: int = 0
    skipped: int = 0
    rejected: int = 0
    commands: int = 0
    rejected_by_kind: dict[str, int] = field(default_factory=dict)


class RiskEngine:
    """One process's engine: in-memory aggregates, a fact reader and a commit pipeline."""

    def __init__(
        self,
        *,
        store: RiskStore,
        get_js: Callable[[], JetStreamContext | None],
        rules: Mapping[str, RiskRules],
        dead_letter: DeadLetter,
        clock: Clock = utc_now,
        snapshot_every: int = SNAPSHOT_EVERY,
        fetch_batch: int = 1000,
        calendar: Calendar | None = None,
    ) -> None:
        self.store = store
        self._get_js = get_js
        self.rules = dict(rules)
        self._dead_letter = dead_letter
        self._clock = clock
        self._snapshot_every = snapshot_every
        self._fetch_batch = fetch_batch
        self.decider = Decider()
        self.pipeline = CommitPipeline(store)
        self.sender = CommandSender(get_js)
        self.stats = EngineStats()
        self.reader: FactReader | None = None
        self.ready = asyncio.Event()
        self._snapshot_versions: dict[str, int] = {}
        self._dlq_tasks: set[asyncio.Task[None]] = set()
        self._was_down = False
        self.calendar = calendar
        """The news calendar put in force on accounts with a news_blackout (the config's
        file, or the last `mtq news import`)."""
        self._configured_calendar = calendar

    # --- start-up -------------------------------------------------------------------

    async def start(self, caught_up_seq: int | None = None) -> None:
        """Load state, finish the previous run's tail under its limits, apply the config.

        `caught_up_seq` is the MT5 stream's last sequence now (facts the previous engine may
        have decided without committing); they are decided before a new config applies.
        """
        tracking = await asyncio.to_thread(self.store.tracking)
        accounts = await asyncio.to_thread(self._load_accounts)
        self.decider = Decider(accounts=accounts, last_seq=tracking)
        await self._recall_snapshots(tracking)
        if accounts:
            self.decider.last_time = max(a.modified_on for a in accounts.values())
        self._snapshot_versions = {a: acc.version for a, acc in accounts.items()}
        self.pipeline.start(tracking)
        self.reader = FactReader(self._get_js, tracking + 1, batch=self._fetch_batch)
        if tracking and caught_up_seq and caught_up_seq > tracking:
            log.info("deciding facts %d..%d under the recorded limits", tracking + 1,
                     caught_up_seq)  # fmt: skip
            while self.reader.next_seq <= caught_up_seq:
                if not await self._step(wait_s=1.0) or (
                    self.reader.pending == 0 and not self.reader.buffered
                ):
                    break  # the rest up to caught_up_seq are facts risk does not follow
        changed = await self._apply_config()
        if changed:
            log.info("config recorded for %d account(s)", len(changed))
        if self.calendar is None:
            self.calendar = next(
                (a.calendar for _, a in sorted(accounts.items()) if a.calendar is not None), None
            )
        at = FactRef(self.decider.last_seq, self.decider.last_time)
        if self.calendar is not None:
            actor = "config" if self._configured_calendar is not None else "risk"
            await self._spread_calendar(self.calendar, actor, at)
        group = await self._flush()
        if group is not None:
            await group.done
        self._resend_outstanding()
        self.ready.set()

    def _load_accounts(self) -> dict[str, AccountRisk]:
        ids = set(self.rules) | set(self.store.registered_accounts())
        loaded: dict[str, AccountRisk] = {}
        for account_id in sorted(ids):
            account = self.store.load(Decider.aggregate_id(account_id))
            if account is not None:
                loaded[account_id] = account
        return loaded

    async def _recall_snapshots(self, tracking: int) -> None:
        """Re-observe the snapshots decided after each account's last recorded one."""
        js = self._get_js()
        accounts = self.decider.accounts.values()
        if js is None or not accounts or not tracking:
            return
        start = min(a.observed_seq for a in accounts) + 1
        if start > tracking:
            return
        facts = read_facts(
            js, from_seq=start, until_seq=tracking, filters=(subjects.ACCOUNT_SNAPSHOTS,)
        )
        async for raw in facts:
            self.decider.recall(raw.seq, raw.subject, raw.data)

    async def _apply_config(self) -> list[str]:
        at = FactRef(self.decider.last_seq, self.decider.last_time)
        changed = []
        for account_id, rules in sorted(self.rules.items()):
            if isinstance(self.decider.handle(ConfigIn(account_id, rules, at)), Applied):
                changed.append(account_id)
            if self.decider.pending_count >= MAX_GROUP_EVENTS:
                await self._flush()
        return changed

    async def _spread_calendar(
        self, calendar: Calendar, actor: str, at: FactRef
    ) -> tuple[list[str], list[str]]:
        """Put `calendar` in force on every account with a news_blackout rule:
        (accounts where it was recorded now, accounts where it already was)."""
        recorded, unchanged = [], []
        for account_id, account in sorted(self.decider.accounts.items()):
            if account.rules.news_blackout is None:
                continue
            outcome = self.decider.handle(CalendarIn(account_id, calendar, actor, at))
            if isinstance(outcome, Applied):
                recorded.append(account_id)
                group = await self._flush()  # one account's calendar a batch: they are large
                if group is not None:
                    await group.done
            else:
                unchanged.append(account_id)
        return recorded, unchanged

    async def import_calendar(self, calendar: Calendar, actor: str) -> tuple[list[str], list[str]]:
        """`mtq news import`: the calendar in force from now, recorded by `actor`."""
        self.calendar = calendar
        return await self._spread_calendar(calendar, actor, self.request_ref())

    async def reconfigure(
        self, rules: Mapping[str, RiskRules], calendar: Calendar | None, actor: str
    ) -> tuple[list[str], list[str]]:
        """`mtq reload`: new limits (LimitsChanged with `actor`) and new accounts, then the
        calendar on accounts that newly have a news_blackout; (changed, removed)."""
        at = self.request_ref()
        changed = []
        for account_id, account_rules in sorted(rules.items()):
            outcome = self.decider.handle(ConfigIn(account_id, account_rules, at, actor))
            if isinstance(outcome, Applied):
                changed.append(account_id)
        removed = sorted(set(self.rules) - set(rules))
        self.rules = dict(rules)
        group = await self._flush()
        if group is not None:
            await group.done
        if calendar is not None:
            self._configured_calendar = self.calendar = calendar
        if self.calendar is not None:
            await self._spread_calendar(self.calendar, actor, at)
        return changed, removed

    def _resend_outstanding(self) -> None:
        for account_id, account in sorted(self.decider.accounts.items()):
            for command_id, spec in account.outstanding_commands.items():
                log.info("re-sending unanswered command %s", command_id)
                self.sender.send(build_command(account_id, command_id, spec))

    def _send(self, account: AccountRisk, command_ids: tuple[str, ...]) -> None:
        """Send the commands `account` just ordered (before their decisions commit)."""
        for command_id in command_ids:
            spec = account.outstanding_commands[command_id]
            self.sender.send(build_command(account.account_id, command_id, spec))
            self.stats.commands += 1

    # --- following facts ------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Follow facts until `stop`; then commit what was decided."""
        try:
            while not stop.is_set():
                await self._step(wait_s=0.02 if self.decider.dirty else 0.5)
                self._raise_failure()
        finally:
            if self.pipeline.failure is None:
                group = await self._flush()
                if group is not None:
                    await asyncio.wait({group.done}, timeout=10)
            await self.pipeline.close()
            await self.sender.drain()
            if self._dlq_tasks:
                await asyncio.wait(set(self._dlq_tasks), timeout=5)
            if self.reader is not None:
                await self.reader.close()

    async def _step(self, wait_s: float) -> int:
        assert self.reader is not None
        if self._get_js() is None:
            self._was_down = True
        elif self._was_down:
            # Follow again from our own position instead of waiting for the old consumer's
            # missed heartbeats to tell nats-py it is gone.
            self._was_down = False
            await self.reader.close()
        facts = await self.reader.fetch(wait_s)
        for raw in facts:
            self._decide(raw)
            if self.decider.pending_count >= MAX_GROUP_EVENTS:
                await self._flush()
        await self._maybe_flush(idle=not facts)
        return len(facts)

    def _decide(self, raw: RawFact) -> None:
        self.stats.facts += 1
        outcome = self.decider.handle(FactIn(raw.seq, raw.subject, raw.data, raw.stored_at))
        match outcome:
            case Applied(account_id=account_id, new_commands=new_commands, events=events):
                self.stats.decided += 1
                account = self.decider.accounts[account_id]
                report_notable(account_id, events)
                self._send(account, new_commands)
            case Skipped() | Answered():  # only a check is answered, never a fact
                self.stats.skipped += 1
            case Rejected(kind=kind):
                self.stats.rejected += 1
                self.stats.rejected_by_kind[kind] = self.stats.rejected_by_kind.get(kind, 0) + 1
                task = asyncio.get_running_loop().create_task(self._dead_letter(raw, outcome))
                self._dlq_tasks.add(task)
                task.add_done_callback(self._dlq_tasks.discard)
            case _:
                assert_never(outcome)

    async def _maybe_flush(self, *, idle: bool) -> None:
        pending = self.decider.pending_count
        if (
            pending >= MAX_GROUP_EVENTS
            or (pending and (idle or self.pipeline.idle))
            or (
                not pending
                and self.pipeline.idle
                and self.decider.last_seq > self.pipeline.committed_seq
                and time.monotonic() - self.pipeline.last_commit_at >= CHECKPOINT_S
            )
        ):
            await self._flush()

    async def _flush(self) -> Group | None:
        """Close the current group and queue it for commit (waits while one is queued)."""
        touched = self.decider.touched_accounts()
        events = self.decider.collect()
        last_seq = self.decider.last_seq
        if not events and last_seq <= self.pipeline.committed_seq:
            return None
        snapshots = self._due_snapshots(touched)
        return await self.pipeline.submit(events, last_seq, snapshots)

    def _due_snapshots(self, touched: list[AccountRisk]) -> list[Any]:
        due = []
        for account in touched:
            last = self._snapshot_versions.get(account.account_id, 0)
            if account.version - last >= self._snapshot_every:
                due.append(self.store.snapshot_event(account))
                self._snapshot_versions[account.account_id] = account.version
        return due

    def _raise_failure(self) -> None:
        if self.pipeline.failure is not None:
            raise self.pipeline.failure

    # --- requests (pre-trade, control) ---------------------------------------------------

    async def commit(self) -> None:
        """Commit what was decided through `decider.handle` directly (mtq-orders: a signal and
        its placement commit as one group)."""
        group = await self._flush()
        if group is not None:
            await group.done

    def request_ref(self) -> FactRef:
        """Where a request is decided: after the last fact decided, at the receive time."""
        return FactRef(self.decider.last_seq, self._clock())

    async def request(self, message: Request) -> Outcome:
        """Decide a pre-trade check or a control, send what it ordered, wait for the commit."""
        outcome = self.decider.handle(message)
        match outcome:
            case (
                Applied(account_id=account_id, new_commands=new)
                | Answered(account_id=account_id, new_commands=new)
            ):
                self._send(self.decider.accounts[account_id], new)
                group = await self._flush()
                if group is not None:
                    await group.done
            case Skipped() | Rejected():
                pass
            case _:
                assert_never(outcome)
        return outcome
