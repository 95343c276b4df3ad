"""The simulator's scripted trader as an integrated strategy: check with `mtq.risk.check`
first, open only what is approved.

Runs in the agent (it has the NATS connection and the terminal) when the simulator's
strategy has `risk_check`. Each request the trader made is checked under its
`client_order_id`; approved ones are sent with that id as the position comment (the link
reconciliation pairs by), except those whose fate is never to be sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Final

import msgspec
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError

from agents.nats_link import NatsLink
from agents.order_requests import filling_for
from agents.session import TerminalSession, TerminalUnavailable
from bus import subjects
from bus.codec import encode
from bus.schemas.risk import RiskCheckReply, RiskCheckRequest

log = logging.getLogger(__name__)

INTERVAL_S: Final = 0.1
CHECK_TIMEOUT_S: Final = 2.0
_reply = msgspec.json.Decoder(RiskCheckReply)


def checks_orders(session: TerminalSession) -> bool:
    """Whether the session's terminal is a simulator whose trader asks for checks."""
    return bool(getattr(session.terminal.terminal, "checks_orders", False))


class CheckedTrader:
    """Takes the trader's requests, checks each, sends the approved ones."""

    def __init__(self, account_id: str, session: TerminalSession, link: NatsLink) -> None:
        self.account_id = account_id
        self.session = session
        self.link = link
        self.checked = 0
        self.approved = 0
        self.sent = 0

    async def run(self, stop: asyncio.Event) -> None:
        terminal = self.session.terminal
        take = terminal.terminal.take_trade_requests  # type: ignore[attr-defined]
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(INTERVAL_S):
                    await stop.wait()
            if stop.is_set() or not self.session.connected:
                continue
            try:
                requests: list[dict[str, Any]] = await terminal.call(take)
            except Exception:  # the simulator's hook failed: try again next round
                log.debug("trade requests not taken", exc_info=True)
                continue
            for request in requests:
                await self.handle(request)

    async def handle(self, request: dict[str, Any]) -> bool:
        """Check one request and, when approved (and meant to be sent), send it."""
        reply = await self._check(request)
        if reply is None or not reply.approved:
            return False
        self.approved += 1
        if request["fate"] == "unfilled":
            return False  # approved and never sent: reconciliation's missing_at_broker
        return await self._send(request["client_order_id"])

    async def _check(self, request: dict[str, Any]) -> RiskCheckReply | None:
        nc = self.link.nc
        if nc is None or not nc.is_connected:
            return None
        check = RiskCheckRequest(
            account_id=self.account_id,
            symbol=request["symbol"],
            side=request["side"],
            volume=request["volume"],
            price=request["price"],
            sl=request["sl"],
            tp=request["tp"],
            client_order_id=request["client_order_id"],
        )
        self.checked += 1
        try:
            msg = await nc.request(
                subjects.risk_check(self.account_id), encode(check), timeout=CHECK_TIMEOUT_S
            )
        except (NoRespondersError, NatsTimeoutError, TimeoutError) as exc:
            log.info("risk check of %s not answered (%r): not sent",
                     request["client_order_id"], exc)  # fmt: skip
            return None
        if "Nats-Service-Error-Code" in (msg.headers or {}):
            log.info("risk check of %s refused: %s", request["client_order_id"], msg.data)
            return None
        try:
            return _reply.decode(msg.data)
        except msgspec.DecodeError:
            return None

    async def _send(self, client_order_id: str) -> bool:
        terminal = self.session.terminal
        build = terminal.terminal.checked_order  # type: ignore[attr-defined]
        try:
            order: dict[str, Any] | None = await terminal.call(build, client_order_id)
            if order is None:
                return False
            info = await self.session.call("symbol_info", order["symbol"])
            order["type_filling"] = filling_for(info)
            result, error = await self.session.order_send(order)
        except TerminalUnavailable as exc:
            log.info("approved %s not sent: %s", client_order_id, exc)
            return False
        if result is None:
            log.info("approved %s not sent: %s %s", client_order_id, *error)
            return False
        self.sent += 1
        return True
