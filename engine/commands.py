"""Wire commands for the decisions that need an agent to act, and their sending."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from nats.js.client import JetStreamContext

from bus.commands import publish_command
from bus.schemas import CloseAll, ClosePosition, Command, PlaceOrder, SetTradingState

log = logging.getLogger(__name__)

RETRY_DELAYS_S = (0.05, 0.2, 0.5, 1.0, 2.0)


class UnknownCommandKind(ValueError):
    """An outstanding command spec names a kind this engine cannot send."""


def build_command(
    account_id: str, command_id: str, spec: Mapping[str, Any], issued_at: datetime | None = None
) -> Command:
    """The wire command for one outstanding command of an account."""
    reason = str(spec.get("reason", ""))
    actor = str(spec.get("actor", "risk"))
    kind = spec.get("kind")
    if kind == "close_all":
        return CloseAll(
            command_id=command_id,
            account_id=account_id,
            symbol=spec.get("symbol"),
            reason=reason,
            actor=actor,
            issued_at=issued_at,
        )
    if kind == "close_position":
        volume = spec.get("volume")
        return ClosePosition(
            command_id=command_id,
            account_id=account_id,
            ticket=int(spec["ticket"]),
            volume=None if volume is None else float(volume),
            reason=reason,
            actor=actor,
            issued_at=issued_at,
        )
    if kind == "set_trading_state":
        return SetTradingState(
            command_id=command_id,
            account_id=account_id,
            state=spec["state"],
            reason=reason,
            actor=actor,
            issued_at=issued_at,
        )
    if kind == "place_order":
        return place_order(account_id, command_id, spec, issued_at)
    raise UnknownCommandKind(f"command {command_id}: unknown kind {kind!r}")


def place_order(
    account_id: str, command_id: str, spec: Mapping[str, Any], issued_at: datetime | None
) -> PlaceOrder:
    """The PlaceOrder of a signal's OrderPlaced (decimal strings as the wire's floats)."""

    def number(key: str) -> float | None:
        value = spec.get(key)
        return None if value is None else float(value)

    return PlaceOrder(
        command_id=command_id,
        account_id=account_id,
        symbol=spec["symbol"],
        side=spec["side"],
        volume=float(spec["volume"]),
        order_type=spec.get("order_type", "market"),
        price=number("price"),
        sl=number("sl"),
        tp=number("tp"),
        signal_id=spec.get("signal_id"),
        approval_id=spec.get("approval_id"),
        reason=str(spec.get("reason", "")),
        actor=str(spec.get("actor", "risk")),
        issued_at=issued_at,
    )


class CommandSender:
    """Publishes commands with their id as `Nats-Msg-Id`, retrying until acknowledged."""

    def __init__(self, get_js: Callable[[], JetStreamContext | None]) -> None:
        self._get_js = get_js
        self._tasks: set[asyncio.Task[None]] = set()
        self.sent = 0
        self.duplicates = 0

    def send(self, command: Command) -> None:
        """Start sending `command` now; never blocks the caller."""
        task = asyncio.get_running_loop().create_task(self._send(command))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, command: Command) -> None:
        attempt = 0
        while True:
            js = self._get_js()
            if js is not None:
                try:
                    ack = await publish_command(js, command)
                except Exception as exc:  # noqa: BLE001 - NATS down or slow: retry
                    log.warning("command %s not sent yet: %r", command.command_id, exc)
                else:
                    self.sent += 1
                    self.duplicates += bool(ack.duplicate)
                    return
            await asyncio.sleep(RETRY_DELAYS_S[min(attempt, len(RETRY_DELAYS_S) - 1)])
            attempt += 1

    async def drain(self, timeout_s: float = 5.0) -> None:
        """Wait for the commands in flight (on shutdown)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout_s)
