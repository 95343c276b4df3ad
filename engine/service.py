"""The `mtq-risk` NATS micro service: pre-trade checks, trading-state control, show."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Final, TypeVar

import msgspec
from nats.aio.client import Client
from nats.js.errors import NotFoundError
from nats.micro import add_service
from nats.micro.request import Request
from nats.micro.service import Service, ServiceConfig

from bus import subjects
from bus.codec import decode_fact, encode
from bus.schemas import TickReceived
from bus.schemas.base import Message, from_msc
from bus.schemas.risk import (
    RiskCheckReply,
    RiskCheckRequest,
    RiskControlReply,
    RiskControlRequest,
    RiskShowReply,
    RiskShowRequest,
    ServiceError,
)
from domain import AccountRisk, MarketEvidence, OrderRequest, RiskError
from engine.engine import RiskEngine
from engine.facts import price

log = logging.getLogger(__name__)

SERVICE_VERSION: Final = "1.0.0"
R = TypeVar("R")


class RequestError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def decode_request(data: bytes, kind: type[R]) -> R:
    try:
        return msgspec.json.decode(data, type=kind)
    except msgspec.DecodeError as exc:
        raise RequestError(400, f"bad {kind.__name__}: {exc}") from None


class RiskService:
    """Answers requests against the engine's live aggregates; every answer is recorded."""

    def __init__(self, engine: RiskEngine, nc: Client) -> None:
        self.engine = engine
        self.nc = nc

    def _account(self, account_id: str) -> AccountRisk:
        if not self.engine.ready.is_set():
            raise RequestError(503, "risk engine is starting; try again shortly")
        account = self.engine.decider.accounts.get(account_id)
        if account is None:
            known = ", ".join(sorted(self.engine.decider.accounts)) or "none"
            raise RequestError(404, f"unknown account {account_id!r}; known: {known}")
        return account

    async def check(self, request: RiskCheckRequest) -> RiskCheckReply:
        account = self._account(request.account_id)
        market = await self.market_evidence(request.account_id, request.symbol)
        order = OrderRequest(
            symbol=request.symbol,
            side=request.side,
            volume=price(request.volume),
            price=price(request.price),
            sl=price(request.sl),
            tp=price(request.tp),
            client_order_id=request.client_order_id,
        )
        before = tuple(account.outstanding_commands)
        answer = account.check_order(order, market, self.engine.request_ref())
        version = account.version
        await self.engine.commit_request(account, before)
        return RiskCheckReply(
            account_id=request.account_id,
            client_order_id=request.client_order_id,
            approved=answer.approved,
            reasons=tuple(answer.reasons),
            limits=dict(answer.limits),
            trading_state=account.trading_state,
            decision=f"{account.id}/{version}",
        )

    async def control(self, request: RiskControlRequest) -> RiskControlReply:
        account = self._account(request.account_id)
        before_version = account.version
        before = tuple(account.outstanding_commands)
        try:
            account.control(request.action, request.reason, request.actor,
                            self.engine.request_ref())  # fmt: skip
        except RiskError as exc:
            raise RequestError(409, str(exc)) from None
        new = self.engine.decider.new_commands(account, before)
        await self.engine.commit_request(account, before)
        return RiskControlReply(
            account_id=request.account_id,
            trading_state=account.trading_state,
            changed=account.version != before_version,
            command_id=new[0] if new else "",
        )

    async def show(self, request: RiskShowRequest) -> RiskShowReply:
        account = self._account(request.account_id)
        return RiskShowReply(account_id=request.account_id, summary=account.summary())

    async def market_evidence(self, account_id: str, symbol: str) -> MarketEvidence:
        """The last tick of the symbol, as recorded evidence (None fields: no tick)."""
        subject = subjects.tick(account_id, symbol)
        try:
            msg = await self.nc.jetstream().get_last_msg(
                subjects.STREAM_TICKS, subject, direct=True
            )
        except NotFoundError:
            return MarketEvidence(symbol=symbol, bid=None, ask=None, tick_time=None)
        tick = decode_fact(subject, msg.data or b"")
        assert isinstance(tick, TickReceived)
        return MarketEvidence(
            symbol=symbol,
            bid=Decimal(repr(tick.bid)),
            ask=Decimal(repr(tick.ask)),
            tick_time=from_msc(tick.time_msc),
        )


Handler = Callable[[Request], Awaitable[None]]


def _endpoint(kind: type[R], operation: Callable[[R], Awaitable[Message]]) -> Handler:
    async def handle(request: Request) -> None:
        try:
            reply = await operation(decode_request(request.data, kind))
        except RequestError as exc:
            await _respond_error(request, exc.code, exc.message)
            return
        except RiskError as exc:
            await _respond_error(request, 400, str(exc))
            return
        except Exception as exc:
            log.exception("mtq-risk request failed")
            await _respond_error(request, 500, f"{type(exc).__name__}: {exc}")
            return
        await request.respond(encode(reply))

    return handle


async def _respond_error(request: Request, code: int, message: str) -> None:
    body = msgspec.json.encode(ServiceError(code=code, message=message))
    await request.respond_error(str(code), message, data=body)


async def add_risk_service(nc: Client, service: RiskService) -> Service:
    """Register `mtq-risk` with `mtq.risk.check`, `mtq.risk.control` and `mtq.risk.show`."""
    micro = await add_service(
        nc,
        ServiceConfig(
            name=subjects.SERVICE_RISK,
            version=SERVICE_VERSION,
            description="mtq risk engine: pre-trade checks and trading-state control",
        ),
    )
    await micro.add_endpoint(name="check", subject=subjects.RISK_CHECK,
                             handler=_endpoint(RiskCheckRequest, service.check))  # fmt: skip
    await micro.add_endpoint(name="control", subject=subjects.RISK_CONTROL,
                             handler=_endpoint(RiskControlRequest, service.control))  # fmt: skip
    await micro.add_endpoint(name="show", subject=subjects.RISK_SHOW,
                             handler=_endpoint(RiskShowRequest, service.show))  # fmt: skip
    return micro
