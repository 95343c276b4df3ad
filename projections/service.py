"""The `mtq-query` NATS micro service: the views, queried with JSON from any language.

Errors are NATS micro error replies: `Nats-Service-Error-Code` (400 bad request, 404 unknown
account, 500 failure) and `Nats-Service-Error` headers, with `{"code", "message"}` as body.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final, TypeVar

from nats.aio.client import Client
from nats.micro import add_service
from nats.micro.service import Service, ServiceConfig

from bus import subjects
from bus.micro import ErrorCodes, endpoint
from bus.schemas.base import Message
from bus.schemas.query import (
    AnalyticsQuery,
    AnalyticsReply,
    BarsQuery,
    BarsReply,
    EquityQuery,
    EquityReply,
    PositionsQuery,
    PositionsReply,
    ReconciliationQuery,
    ReconciliationReply,
    RiskQuery,
    RiskReply,
    StatusQuery,
    StatusReply,
)
from projections import analytics_reads, candles, queries
from projections.db import Database
from projections.settings import AccountSettings

log = logging.getLogger(__name__)

SERVICE_VERSION: Final = "1.0.0"
Q = TypeVar("Q", bound=Message)


class QueryService:
    """Answers each request on a read connection of its own, one at a time, off the loop."""

    def __init__(self, db: Database, settings: Mapping[str, AccountSettings]) -> None:
        self.db = db
        self.settings = settings
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="query-db")

    async def _run(self, work: Callable[[], Any]) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, work)

    def status(self, q: StatusQuery) -> StatusReply:
        return StatusReply(
            accounts=queries.status(self.db, q, self.settings),
            projector=queries.projector_info(self.db),
        )

    def positions(self, q: PositionsQuery) -> PositionsReply:
        return PositionsReply(positions=queries.positions(self.db, q))

    def reconciliation(self, q: ReconciliationQuery) -> ReconciliationReply:
        items = queries.reconciliation(self.db, q, self.settings)
        return ReconciliationReply(items=items, counts=queries.status_counts(items))

    def risk(self, q: RiskQuery) -> RiskReply:
        accounts, events = queries.risk(self.db, q)
        return RiskReply(accounts=accounts, events=events)

    def equity(self, q: EquityQuery) -> EquityReply:
        return EquityReply(account=q.account, bars=queries.equity(self.db, q))

    def analytics(self, q: AnalyticsQuery) -> AnalyticsReply:
        report = analytics_reads.analytics_query(self.db, q)
        return AnalyticsReply(account=q.account, analytics=report)

    def bars(self, q: BarsQuery) -> BarsReply:
        account, found = candles.bars_query(self.db, q)
        return BarsReply(symbol=q.symbol, tf=q.tf, account=account, bars=found)

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        self.db.close()


def _answering(service: QueryService, answer: Callable[[Q], Message]) -> Callable[[Q], Any]:
    async def run(query: Q) -> Message:
        reply: Message = await service._run(lambda: answer(query))
        return reply

    return run


async def add_query_service(nc: Client, service: QueryService) -> Service:
    """Register `mtq-query` with one endpoint per view."""
    micro = await add_service(
        nc,
        ServiceConfig(
            name=subjects.SERVICE_QUERY,
            version=SERVICE_VERSION,
            description="mtq read models: status, positions, reconciliation, risk, equity, bars,"
            " analytics",
        ),
    )
    endpoints: list[tuple[str, type[Any], Callable[[Any], Message]]] = [
        ("status", StatusQuery, service.status),
        ("positions", PositionsQuery, service.positions),
        ("reconciliation", ReconciliationQuery, service.reconciliation),
        ("risk", RiskQuery, service.risk),
        ("equity", EquityQuery, service.equity),
        ("analytics", AnalyticsQuery, service.analytics),
        ("bars", BarsQuery, service.bars),
    ]
    errors: ErrorCodes = {
        queries.UnknownAccount: 404,
        candles.UnknownSymbol: 404,
        ValueError: 400,
    }
    for name, kind, answer in endpoints:
        handler = endpoint(
            kind, _answering(service, answer), service=subjects.SERVICE_QUERY, errors=errors
        )
        await micro.add_endpoint(name=name, subject=subjects.query(name), handler=handler)
    return micro
