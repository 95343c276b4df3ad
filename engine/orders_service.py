"""The `mtq-orders` NATS micro service: strategies' signals and their approvals (issue 17).

`mtq.orders.submit.<identity>` fans a signal out to its strategy's accounts; each account
records SignalReceived, its sizing, and either the `auto` approval, pre-trade and OrderPlaced
(the PlaceOrder command goes to the agent) or ApprovalRequested. `mtq.orders.approve.<identity>`
records a person's Approved/Rejected, then pre-trade and OrderPlaced. Who submits or approves is
the subject's identity, which nats-server lets only that identity publish: `api` (the HTTP API,
after checking the signal's HMAC; it names its bearer token in `actor`, recorded as
`api:<token>`), `admin`, or `strategy-<name>` (submits only for its own strategy). Times come
from the account's facts (its last snapshot or heartbeat), never this process's clock.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, Final, cast

from nats.aio.client import Client
from nats.micro import add_service
from nats.micro.service import Service, ServiceConfig

from bus import subjects
from bus.micro import ErrorCodes, Handler, ServiceRequestError
from bus.schemas.orders import (
    AccountAnswer,
    ApprovalReply,
    ApprovalSubmit,
    SignalReply,
    SignalStatus,
    SignalSubmit,
)
from bus.security.identities import ADMIN, HTTP_API, STRATEGY_PREFIX
from config import MtqConfig
from config.models import StrategyConfig
from domain import AccountRisk, MarketEvidence, RiskError
from domain.signals import Signal, VolumeSpec, expired, signal_command_id
from engine.decider import Applied, Rejected
from engine.engine import RiskEngine
from engine.facts import price
from engine.messages import ApprovalIn, CheckIn, SignalIn
from engine.service import RiskService, bound_endpoint, reason_with_note

SERVICE_VERSION: Final = "1.0.0"


@dataclass(frozen=True)
class Strategies:
    """What the engine needs of the config's `strategies:` and the symbols' volume limits."""

    by_name: Mapping[str, StrategyConfig] = field(default_factory=dict)
    accounts: tuple[str, ...] = ()
    """Enabled accounts in config order (a strategy's `accounts: all`)."""
    volumes: Mapping[tuple[str, str], VolumeSpec] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: MtqConfig) -> Strategies:
        volumes = {
            (a.id, s.name): VolumeSpec(
                price(s.volume_min), price(s.volume_step), price(s.volume_max)
            )
            for a in config.enabled_accounts()
            for s in a.symbols
        }
        return cls(
            {s.name: s for s in config.strategies},
            tuple(a.id for a in config.enabled_accounts()),
            volumes,
        )

    def volume_spec(self, account_id: str, symbol: str) -> VolumeSpec:
        return self.volumes.get((account_id, symbol), VolumeSpec())


def submitter(identity: str, request: SignalSubmit) -> str:
    """The recorded actor of a signal from `identity`; 403 when it may not submit it."""
    if identity == HTTP_API:
        if not request.actor:
            raise ServiceRequestError(400, "actor: the api identity must name its token")
        return f"{HTTP_API}:{request.actor}"
    if identity == ADMIN:
        return ADMIN
    if identity.startswith(STRATEGY_PREFIX):
        name = identity.removeprefix(STRATEGY_PREFIX)
        if request.strategy != name:
            raise ServiceRequestError(
                403, f"identity {identity} may submit only for strategy {name!r}"
            )
        return f"strategy:{name}"
    raise ServiceRequestError(403, f"identity {identity} may not submit signals")


def approver(identity: str, request: ApprovalSubmit) -> tuple[str, str]:
    """(recorded actor, note) of an approval from `identity`; 403 for any other identity."""
    if identity == HTTP_API:
        if not request.actor:
            raise ServiceRequestError(400, "actor: the api identity must name its token")
        return f"{HTTP_API}:{request.actor}", ""
    if identity == ADMIN:
        return ADMIN, "" if request.actor in ("", ADMIN) else request.actor
    raise ServiceRequestError(403, f"identity {identity} may not approve signals")


def check_submit(request: SignalSubmit, strategy: StrategyConfig | None) -> StrategyConfig:
    """400/404 naming the field a signal gets wrong."""
    if strategy is None:
        raise ServiceRequestError(404, f"strategy: {request.strategy!r} is not configured")
    if request.volume is not None and request.risk_percent is not None:
        raise ServiceRequestError(400, "volume, risk_percent: give one of them, not both")
    if request.order_type == "market" and request.price is not None:
        raise ServiceRequestError(400, "price: only for limit and stop orders")
    if request.order_type != "market" and request.price is None:
        raise ServiceRequestError(400, f"price: required for a {request.order_type} order")
    return strategy


def _status(entry: Mapping[str, Any], now: Any = None) -> SignalStatus:
    status = str(entry["status"])
    if status == "awaiting_approval" and now is not None and expired(entry["expires_at"], now):
        return "expired"
    return cast("SignalStatus", status)


class OrdersService:
    """Decides signals and approvals on the engine's live aggregates; all is recorded."""

    def __init__(self, engine: RiskEngine, risk: RiskService, strategies: Strategies) -> None:
        self.engine = engine
        self.risk = risk
        self.strategies = strategies
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}
        """Per signal id, one request at a time: a repeat sees the first one whole."""

    @contextlib.asynccontextmanager
    async def _one_at_a_time(self, signal_id: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(signal_id, (asyncio.Lock(), 0))
        self._locks[signal_id] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[signal_id]
            if users <= 1:
                del self._locks[signal_id]
            else:
                self._locks[signal_id] = (lock, users - 1)

    def _targets(self, request: SignalSubmit, strategy: StrategyConfig) -> tuple[str, ...]:
        mine = strategy.account_ids(self.strategies.accounts)
        if request.accounts is None:
            return mine
        for account_id in request.accounts:
            if account_id not in mine:
                raise ServiceRequestError(
                    400,
                    f"accounts: {account_id!r} is not an account of strategy {strategy.name!r}"
                    f" ({', '.join(mine) or 'none'})",
                )
        return tuple(dict.fromkeys(request.accounts))

    async def submit(self, request: SignalSubmit, identity: str) -> SignalReply:
        actor = submitter(identity, request)
        strategy = check_submit(request, self.strategies.by_name.get(request.strategy))
        if not self.engine.ready.is_set():
            raise ServiceRequestError(503, "risk engine is starting; try again shortly")
        async with self._one_at_a_time(request.signal_id):
            targets = self._targets(request, strategy)
            accounts = self.engine.decider.accounts
            seen = [a for a in targets if a in accounts and accounts[a].signal(request.signal_id)]
            if seen:
                answers = tuple(self._first_answer(accounts[a], request.signal_id) for a in seen)
                return SignalReply(signal_id=request.signal_id, duplicate=True, accounts=answers)
            answers = tuple([await self._submit_one(request, strategy, actor, a) for a in targets])
        return SignalReply(signal_id=request.signal_id, accounts=answers)

    async def _submit_one(
        self, request: SignalSubmit, strategy: StrategyConfig, actor: str, account_id: str
    ) -> AccountAnswer:
        account = self.engine.decider.accounts.get(account_id)
        if account is None:
            return AccountAnswer(
                account_id=account_id, status="rejected", reason="account is not running"
            )
        market = await self._market(account, request.symbol)
        reference = self._reference(request.order_type, request.side, request.price, market)
        signal = Signal(
            signal_id=request.signal_id,
            strategy=strategy.name,
            symbol=request.symbol,
            side=request.side,
            order_type=request.order_type,
            price=_decimal(request.price),
            volume=_decimal(request.volume),
            risk_percent=_decimal(request.risk_percent),
            sl=_decimal(request.sl),
            tp=_decimal(request.tp),
            comment=request.comment,
            approval=strategy.approval_for(account_id),
            actor=actor,
            expires_after_seconds=strategy.expires_after_seconds,
            reference_price=reference,
            volumes=self.strategies.volume_spec(account_id, request.symbol),
        )
        if signal.volume is None and signal.risk_percent is None:
            sizing = strategy.sizing
            if sizing.fixed is not None:
                signal = _with(signal, volume=price(sizing.fixed))
            else:
                signal = _with(signal, risk_percent=_decimal(sizing.risk_percent))
        ref = self.engine.decider.account_ref(account_id)
        if ref is None:
            return AccountAnswer(
                account_id=account_id,
                status="rejected",
                reason="no snapshot or heartbeat from the account yet: nothing to time it by",
            )
        # Decided now, committed with its placement (or alone): one commit, not two, before
        # the PlaceOrder goes out. Nothing is awaited between the two decisions.
        match self.engine.decider.handle(SignalIn(account_id, signal, ref)):
            case Rejected(reason=refusal):
                raise ServiceRequestError(400, refusal)
            case _:
                pass
        entry = account.signal(request.signal_id)
        if entry is not None and entry["status"] == "approved":
            await self._place(account, request.signal_id, market)
        else:
            await self.engine.commit()
        return self._first_answer(account, request.signal_id)

    async def _market(self, account: AccountRisk, symbol: str) -> MarketEvidence:
        spec = account.rules.symbol(symbol)
        with_previous = spec is not None and spec.max_gap_pips is not None
        return await self.risk.market_evidence(account.account_id, symbol, with_previous)

    @staticmethod
    def _reference(
        order_type: str, side: str, order_price: float | None, market: MarketEvidence
    ) -> Decimal | None:
        if order_type != "market":
            return _decimal(order_price)
        return market.ask if side == "buy" else market.bid

    async def _place(
        self, account: AccountRisk, signal_id: str, market: MarketEvidence | None = None
    ) -> None:
        """Pre-trade check an approved signal at the price now; OrderPlaced when it passes."""
        entry = account.signals[signal_id]
        if market is None:
            market = await self._market(account, entry["symbol"])
        stated = None if entry["price"] is None else float(entry["price"])
        reference = self._reference(entry["order_type"], entry["side"], stated, market)
        if reference is None:  # the approval came, the ticks went: nothing to price it by
            reference = Decimal(entry["reference_price"] or 0)
        order = account.signal_order(signal_id, reference)
        ref = self.engine.decider.account_ref(account.account_id)
        assert ref is not None  # the signal was received, so a fact timed it
        await self.engine.request(CheckIn(account.account_id, order, market, ref))

    def _first_answer(self, account: AccountRisk, signal_id: str) -> AccountAnswer:
        entry = account.signals[signal_id]
        first = entry.get("first") or {"status": entry["status"], "reason": entry["reason"]}
        status = cast("SignalStatus", first["status"])
        return AccountAnswer(
            account_id=account.account_id,
            status=status,
            volume=entry["volume"],
            approval_id=f"{signal_id}:{account.account_id}",
            command_id=signal_command_id(signal_id, account.account_id) if status == "sent" else "",
            reason=str(first.get("reason", "")),
        )

    async def approve(self, request: ApprovalSubmit, identity: str) -> ApprovalReply:
        actor, note = approver(identity, request)
        account = self.risk.account(request.account_id)
        async with self._one_at_a_time(request.signal_id):
            entry = account.signal(request.signal_id)
            if entry is None:
                raise ServiceRequestError(
                    404, f"signal_id: no signal {request.signal_id!r} on {request.account_id}"
                )
            ref = self.engine.decider.account_ref(request.account_id)
            assert ref is not None
            approve = request.decision == "approve"
            reason = reason_with_note(request.reason, note)
            decision = ApprovalIn(
                request.account_id, request.signal_id, approve, actor, reason, ref
            )
            match await self.engine.request(decision):
                case Rejected(reason=refusal):
                    raise ServiceRequestError(409, refusal)
                case Applied():
                    decided = True
                case _:
                    decided = False
            if decided and approve:
                await self._place(account, request.signal_id)
            now = self.engine.decider.account_ref(request.account_id)
        entry = account.signals[request.signal_id]
        status = _status(entry, None if now is None else now.time)
        return ApprovalReply(
            signal_id=request.signal_id,
            account_id=request.account_id,
            approval_id=f"{request.signal_id}:{request.account_id}",
            status=status,
            actor=actor if decided else "",
            command_id=signal_command_id(request.signal_id, request.account_id)
            if status == "sent"
            else "",
            reason=str(entry.get("reason", "")),
        )


def _decimal(value: float | None) -> Decimal | None:
    return None if value is None else price(value)


def _with(signal: Signal, **changes: Any) -> Signal:
    return replace(signal, **changes)


async def add_orders_service(nc: Client, service: OrdersService) -> Service:
    """Register `mtq-orders`: `mtq.orders.submit.<identity>`, `mtq.orders.approve.<identity>`."""
    micro = await add_service(
        nc,
        ServiceConfig(
            name=subjects.SERVICE_ORDERS,
            version=SERVICE_VERSION,
            description="mtq orders: strategies' signals and their approvals",
        ),
    )
    errors: ErrorCodes = {RiskError: 400}
    endpoints: list[tuple[str, str, Handler]] = [
        ("submit", subjects.ORDERS_SUBMIT_ANY,
         bound_endpoint(SignalSubmit, service.submit, errors=errors)),
        ("approve", subjects.ORDERS_APPROVE_ANY,
         bound_endpoint(ApprovalSubmit, service.approve, errors=errors)),
    ]  # fmt: skip
    for name, subject, handler in endpoints:
        await micro.add_endpoint(name=name, subject=subject, handler=handler)
    return micro
