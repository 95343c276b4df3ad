"""Run an audit on a live NATS: read RISK and the MT5 log, then replay (engine.audit_replay)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from nats.aio.client import Client

from bus import subjects
from bus.reader import RISK_FACT_SUBJECTS, read_facts
from domain import RiskRules
from engine.audit_replay import Recorded, VerifyResult, WhatIfResult, verify, whatif
from engine.store import RiskStore

PAGE = 1000


def read_recorded(store: RiskStore) -> Recorded:
    """Every decision in RISK and the tracking position, read once."""
    tracking = store.tracking()
    stored: list[Any] = []
    start = 1
    while True:
        page = store.recorder.select_notifications(start, PAGE)
        stored.extend(page)
        if len(page) < PAGE:
            break
        start = page[-1].id + 1
    return Recorded.from_stored(stored, store.mapper, tracking)


def account_filters(accounts: set[str] | None) -> tuple[str, ...]:
    if not accounts:
        return RISK_FACT_SUBJECTS
    return tuple(subjects.account_facts(a) for a in sorted(accounts))


async def run_verify(
    nc: Client,
    store: RiskStore,
    *,
    accounts: set[str] | None = None,
    on_total: Callable[[int], None] | None = None,
    progress: Callable[[int], None] | None = None,
) -> VerifyResult:
    recorded = await asyncio.to_thread(read_recorded, store)
    accounts = recorded.with_groups(accounts)
    if on_total is not None:
        on_total(recorded.tracking)
    facts = read_facts(
        nc.jetstream(), until_seq=recorded.tracking, filters=account_filters(accounts),
        progress=progress,
    )  # fmt: skip
    return await verify(facts, recorded, store.mapper, accounts=accounts)


async def run_whatif(
    nc: Client,
    store: RiskStore,
    rules: Mapping[str, RiskRules],
    *,
    accounts: set[str] | None = None,
    on_total: Callable[[int], None] | None = None,
    progress: Callable[[int], None] | None = None,
) -> WhatIfResult:
    recorded = await asyncio.to_thread(read_recorded, store)
    if on_total is not None:
        on_total(recorded.tracking)
    chosen = {a: r for a, r in rules.items() if accounts is None or a in accounts}
    facts = read_facts(
        nc.jetstream(), until_seq=recorded.tracking, filters=account_filters(accounts),
        progress=progress,
    )  # fmt: skip
    return await whatif(facts, recorded, chosen, accounts=accounts)
