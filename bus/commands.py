"""Publish commands to agents: subject from the command type, `Nats-Msg-Id` = command id."""

from __future__ import annotations

from typing import assert_never

from nats.js.api import PubAck
from nats.js.client import JetStreamContext

from bus import subjects
from bus.codec import encode
from bus.schemas import (
    CloseAll,
    ClosePosition,
    Command,
    ModifyPosition,
    PlaceOrder,
    SetTradingState,
)

MSG_ID_HEADER = "Nats-Msg-Id"


def command_kind(command: Command) -> str:
    """The subject kind of a command (`close_position`, `close_all`, `set_trading_state`,
    `place_order`, `modify_position`)."""
    match command:
        case ClosePosition():
            return "close_position"
        case CloseAll():
            return "close_all"
        case SetTradingState():
            return "set_trading_state"
        case PlaceOrder():
            return "place_order"
        case ModifyPosition():
            return "modify_position"
        case _:
            assert_never(command)


def command_subject(command: Command) -> str:
    return subjects.command(command.account_id, command_kind(command))


async def publish_command(js: JetStreamContext, command: Command, *, wait_s: float = 5.0) -> PubAck:
    """Publish `command` on `cmd.<account>.<kind>`; a repeated command id is a duplicate."""
    return await js.publish(
        command_subject(command),
        encode(command),
        timeout=wait_s,
        headers={MSG_ID_HEADER: command.command_id},
    )
