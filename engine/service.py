"""The `mtq-risk` NATS micro service: pre-trade checks, trading-state control, show.

Who asks is bound by the subject, which nats-server lets only that identity publish on:
`mtq.risk.check.<account>` checks that account only (a body naming another is refused
before anything is recorded), and `mtq.risk.control.<identity>` records `<identity>` as the
actor. The `api` identity alone names someone else: the HTTP token that authorised the
request, recorded as `api:<token name>`. An actor the caller writes in the body is kept
only as a note in the recorded reason.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Final, TypeVar

from nats.aio.client import Client
from nats.js.errors import NotFoundError
from nats.micro import add_service
from nats.micro.request import Request
from nats.micro.service import Service, ServiceConfig

from bus import subjects
from bus.codec import DecodeError, decode_fact
from bus.micro import ErrorCodes, Handler, ServiceRequestError, endpoint
from bus.schemas import TickReceived
from bus.schemas.base import Message, from_msc
from bus.schemas.news import (
    CalendarImportReply,
    CalendarImportRequest,
    CalendarInForce,
    NewsEventWire,
    NewsListReply,
    NewsListRequest,
    ReloadReply,
    ReloadRequest,
)
from bus.schemas.risk import (
    RiskCheckReply,
    RiskCheckRequest,
    RiskControlReply,
    RiskControlRequest,
    RiskShowReply,
    RiskShowRequest,
)
from bus.security.client import ANONYMOUS
from bus.security.identities import ADMIN, HTTP_API
from config.errors import ConfigError
from domain import AccountRisk, MarketEvidence, OrderRequest, RiskError, RiskRules
from domain.news import Calendar, NewsEvent
from engine.decider import Answered, Applied, Rejected
from engine.engine import RiskEngine
from engine.facts import price
from engine.messages import CheckIn, ControlIn

log = logging.getLogger(__name__)

SERVICE_VERSION: Final = "1.0.0"
SERVICE: Final = subjects.SERVICE_RISK
LINE_BREAK: Final = " | "
"""Between the lines of a multi-line error (a NATS header holds one line)."""
CALENDAR_IMPORTERS: Final = frozenset({ADMIN, ANONYMOUS})
"""Who may put a calendar in force: admin, or anyone on an open (insecure) server."""
DEFAULT_ACTOR: Final = RiskControlRequest(account_id="x", action="pause", reason="").actor
"""The schema's default `actor`: a caller that wrote none leaves no note."""

R = TypeVar("R")


def bound_actor(identity: str, claimed: str) -> tuple[str, str]:
    """(recorded actor, note) of a control request from `identity` that says `claimed`.

    The actor is the identity; for `api` it is `api:<token name>`, the token name being
    the `actor` the API sends. Whatever else the caller claims is only a note.
    """
    if identity == HTTP_API:
        if not claimed or claimed == DEFAULT_ACTOR:
            raise ServiceRequestError(
                400, "a control request of the api identity must name its token in `actor`"
            )
        return f"{HTTP_API}:{claimed}", ""
    note = "" if claimed in ("", DEFAULT_ACTOR, identity) else claimed
    return identity, note


def reason_with_note(reason: str, note: str) -> str:
    """The recorded reason, with the caller's own actor claim beside it (never as the actor)."""
    return f"{reason} (actor named by the caller: {note})" if note else reason


def check_bound_account(bound: str, account_id: str) -> None:
    """400 unless the body's account is the one the subject names."""
    if account_id != bound:
        raise ServiceRequestError(
            400,
            f"account_id {account_id!r} does not match the account of the subject "
            f"{subjects.risk_check(bound)}: a check may only be about the subject's account",
        )


@dataclass(frozen=True)
class Reloaded:
    """What the config files say now: each enabled account's rules and the calendar."""

    rules: Mapping[str, RiskRules]
    calendar: Calendar | None


class RiskService:
    """Answers requests against the engine's live aggregates; every answer is recorded."""

    def __init__(
        self, engine: RiskEngine, nc: Client, *, reload: Callable[[], Reloaded] | None = None
    ) -> None:
        self.engine = engine
        self.nc = nc
        self._reload = reload
        self._reloading = asyncio.Lock()

    def _ready(self) -> None:
        if not self.engine.ready.is_set():
            raise ServiceRequestError(503, "risk engine is starting; try again shortly")

    async def import_calendar(
        self, request: CalendarImportRequest, identity: str
    ) -> CalendarImportReply:
        """`mtq.risk.calendar.<identity>`: admin only; recorded on every account with a
        news_blackout as CalendarImported (its digest and events)."""
        if identity not in CALENDAR_IMPORTERS:
            raise ServiceRequestError(403, f"only {ADMIN} imports news calendars, not {identity}")
        self._ready()
        events = tuple(
            NewsEvent(e.time, e.impact, e.title, e.currencies, e.instruments)
            for e in request.events
        )
        calendar = Calendar(events, request.source)
        recorded, unchanged = await self.engine.import_calendar(calendar, identity)
        return CalendarImportReply(
            digest=calendar.digest,
            events=len(events),
            recorded=tuple(recorded),
            unchanged=tuple(unchanged),
        )

    async def news(self, request: NewsListRequest) -> NewsListReply:
        """`mtq.risk.news`: the calendar in force on each account (or one) and its events."""
        self._ready()
        if request.account_id is not None:
            accounts = [(request.account_id, self._account(request.account_id))]
        else:
            accounts = sorted(self.engine.decider.accounts.items())
        listed = tuple(
            CalendarInForce(
                account_id=account_id,
                digest=None if a.calendar is None else a.calendar.digest,
                source="" if a.calendar is None else a.calendar.source,
                blackout=a.rules.news_blackout is not None,
            )
            for account_id, a in accounts
        )
        calendar = next((a.calendar for _, a in accounts if a.calendar is not None), None)
        if calendar is None and request.account_id is None:
            calendar = self.engine.calendar
        events = () if calendar is None else calendar.events
        since = request.since
        return NewsListReply(
            accounts=listed,
            events=tuple(
                NewsEventWire(
                    time=e.time,
                    impact=e.impact,
                    title=e.title,
                    currencies=e.currencies,
                    instruments=e.instruments,
                )
                for e in events
                if since is None or e.time >= since
            ),
        )

    async def reload(self, request: ReloadRequest, identity: str) -> ReloadReply:
        """`mtq.risk.reload.<identity>`: re-read the config files; changed limits recorded
        as LimitsChanged with `identity` as the actor. An invalid config answers 400 with
        every file:line error and the limits in force stay."""
        del request
        self._ready()
        if self._reload is None:
            raise ServiceRequestError(409, "this engine has no config files to re-read")
        async with self._reloading:
            try:
                fresh = await asyncio.to_thread(self._reload)
            except ConfigError as exc:
                lines = exc.result.lines() if exc.result is not None else [str(exc)]
                raise ServiceRequestError(  # one header line: the issues split by LINE_BREAK
                    400, LINE_BREAK.join(["config rejected, the running one is kept:", *lines])
                ) from None
            changed, removed = await self.engine.reconfigure(fresh.rules, fresh.calendar, identity)
        log.warning(
            "config reloaded by %s: %d account(s) changed, %d removed",
            identity, len(changed), len(removed),
        )  # fmt: skip
        return ReloadReply(
            changed=tuple(changed),
            removed=tuple(removed),
            calendar=None if fresh.calendar is None else fresh.calendar.digest,
        )

    def account(self, account_id: str) -> AccountRisk:
        """The live aggregate of `account_id`: 503 while starting, 404 when unknown."""
        return self._account(account_id)

    def _account(self, account_id: str) -> AccountRisk:
        if not self.engine.ready.is_set():
            raise ServiceRequestError(503, "risk engine is starting; try again shortly")
        account = self.engine.decider.accounts.get(account_id)
        if account is None:
            known = ", ".join(sorted(self.engine.decider.accounts)) or "none"
            raise ServiceRequestError(404, f"unknown account {account_id!r}; known: {known}")
        return account

    async def check(self, request: RiskCheckRequest, bound_account: str) -> RiskCheckReply:
        check_bound_account(bound_account, request.account_id)
        account = self._account(request.account_id)
        if account.placement(request.client_order_id) is not None:
            raise ServiceRequestError(
                400, "client_order_id names an approved signal's order: only mtq-orders places it"
            )
        spec = account.rules.symbol(request.symbol)
        with_previous = spec is not None and spec.max_gap_pips is not None
        market = await self.market_evidence(request.account_id, request.symbol, with_previous)
        order = OrderRequest(
            symbol=request.symbol,
            side=request.side,
            volume=price(request.volume),
            price=price(request.price),
            sl=price(request.sl),
            tp=price(request.tp),
            client_order_id=request.client_order_id,
        )
        check = CheckIn(request.account_id, order, market, self.engine.request_ref())
        outcome = await self.engine.request(check)
        match outcome:
            case Answered(answer=answer, version=version):
                return RiskCheckReply(
                    account_id=request.account_id,
                    client_order_id=request.client_order_id,
                    approved=answer.approved,
                    reasons=tuple(answer.reasons),
                    limits=dict(answer.limits),
                    trading_state=account.trading_state,
                    decision=f"{account.id}/{version}",
                )
            case Rejected(reason=reason):
                raise ServiceRequestError(400, reason)
            case _:
                raise ServiceRequestError(500, f"a check was not answered: {outcome!r}")

    async def control(self, request: RiskControlRequest, identity: str) -> RiskControlReply:
        actor, note = bound_actor(identity, request.actor)
        account = self._account(request.account_id)
        reason = reason_with_note(request.reason, note)
        control = ControlIn(request.account_id, request.action, reason, actor,
                            self.engine.request_ref(), request.rebase)  # fmt: skip
        outcome = await self.engine.request(control)
        match outcome:
            case Rejected(reason=refusal):
                raise ServiceRequestError(409, refusal)
            case Applied(new_commands=new):
                changed, command_id = True, (new[0] if new else "")
            case _:
                changed, command_id = False, ""
        return RiskControlReply(
            account_id=request.account_id,
            trading_state=account.trading_state,
            changed=changed,
            command_id=command_id,
        )

    async def show(self, request: RiskShowRequest) -> RiskShowReply:
        account = self._account(request.account_id)
        return RiskShowReply(account_id=request.account_id, summary=account.summary())

    async def market_evidence(
        self, account_id: str, symbol: str, with_previous: bool = False
    ) -> MarketEvidence:
        """The last tick of the symbol (and the one before), as recorded evidence.

        None fields: no tick. The previous tick is the symbol's last one before the last,
        read from the ticks stream (direct get of the last message up to a sequence).
        """
        subject = subjects.tick(account_id, symbol)
        try:
            msg = await self.nc.jetstream().get_last_msg(
                subjects.STREAM_TICKS, subject, direct=True
            )
        except NotFoundError:
            return MarketEvidence(symbol=symbol, bid=None, ask=None, tick_time=None)
        tick = _tick(subject, msg.data)
        if tick is None:
            return MarketEvidence(symbol=symbol, bid=None, ask=None, tick_time=None)
        previous = await self._tick_before(subject, msg.seq or 0) if with_previous else None
        return MarketEvidence(
            symbol=symbol,
            bid=price(tick.bid),
            ask=price(tick.ask),
            tick_time=from_msc(tick.time_msc),
            previous_bid=None if previous is None else price(previous.bid),
            previous_ask=None if previous is None else price(previous.ask),
            previous_time=None if previous is None else from_msc(previous.time_msc),
        )

    async def _tick_before(self, subject: str, seq: int) -> TickReceived | None:
        if seq <= 1:
            return None
        request = json.dumps({"multi_last": [subject], "up_to_seq": seq - 1}).encode()
        try:
            reply = await self.nc.request(
                subjects.direct_get(subjects.STREAM_TICKS), request, timeout=2
            )
        except TimeoutError:
            return None
        if (reply.headers or {}).get("Status") or not reply.data:
            return None  # 204/404: no tick before it
        return _tick(subject, reply.data)


def _tick(subject: str, data: bytes | None) -> TickReceived | None:
    """The stored tick, or None when it is not one a terminal sends (bus/sanity.py)."""
    try:
        tick = decode_fact(subject, data or b"")
    except DecodeError as exc:
        log.warning("ignoring the stored tick on %s as market evidence: %s", subject, exc.reason)
        return None
    return tick if isinstance(tick, TickReceived) else None


def bound_endpoint(
    kind: type[R],
    answer: Callable[[R, str], Awaitable[Message]],
    *,
    errors: ErrorCodes,
) -> Handler:
    """`endpoint`, with the subject's last token (the bound account or identity) passed on."""

    async def handle(request: Request) -> None:
        bound = subjects.last_token(request.subject)

        async def answer_bound(decoded: R) -> Message:
            return await answer(decoded, bound)

        await endpoint(kind, answer_bound, service=SERVICE, errors=errors)(request)

    return handle


async def add_risk_service(nc: Client, service: RiskService) -> Service:
    """Register `mtq-risk`: `mtq.risk.check.<account>`, `mtq.risk.control.<identity>` and
    `mtq.risk.show`."""
    micro = await add_service(
        nc,
        ServiceConfig(
            name=subjects.SERVICE_RISK,
            version=SERVICE_VERSION,
            description="mtq risk engine: pre-trade checks and trading-state control",
        ),
    )
    errors: ErrorCodes = {RiskError: 400}
    endpoints: list[tuple[str, str, Handler]] = [
        ("check", subjects.RISK_CHECK_ANY, bound_endpoint(RiskCheckRequest, service.check,
                                                          errors=errors)),
        ("control", subjects.RISK_CONTROL_ANY, bound_endpoint(RiskControlRequest,
                                                              service.control, errors=errors)),
        ("show", subjects.RISK_SHOW, endpoint(RiskShowRequest, service.show,
                                              service=SERVICE, errors=errors)),
        ("calendar", subjects.RISK_CALENDAR_ANY, bound_endpoint(
            CalendarImportRequest, service.import_calendar, errors=errors)),
        ("news", subjects.RISK_NEWS, endpoint(NewsListRequest, service.news,
                                              service=SERVICE, errors=errors)),
        ("reload", subjects.RISK_RELOAD_ANY, bound_endpoint(ReloadRequest, service.reload,
                                                            errors=errors)),
    ]  # fmt: skip
    for name, subject, handler in endpoints:
        await micro.add_endpoint(name=name, subject=subject, handler=handler)
    return micro
