"""Encode wire messages and decode them by subject family, one decoder each, built once.

A fact is also held to `bus.sanity`'s limits (finite money, lots in range, a time between
2000 and 2100), so every consumer refuses the same facts with the same reason.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

from bus import sanity, subjects
from bus.schemas import (
    AccountSnapshot,
    AgentHeartbeat,
    AgentLifecycleChanged,
    Command,
    Fact,
    OrderFact,
    PositionFact,
    TickReceived,
)
from bus.schemas.base import Message

_encoder: Final = msgspec.json.Encoder()

FAMILY_DECODERS: Final[dict[str, msgspec.json.Decoder[Any]]] = {
    "tick": msgspec.json.Decoder(TickReceived),
    "position": msgspec.json.Decoder(PositionFact),
    "account": msgspec.json.Decoder(AccountSnapshot),
    "health": msgspec.json.Decoder(AgentHeartbeat),
    "order": msgspec.json.Decoder(OrderFact),
    "lifecycle": msgspec.json.Decoder(AgentLifecycleChanged),
}
COMMAND_DECODER: Final = msgspec.json.Decoder(Command)


class DecodeError(ValueError):
    """A message could not be decoded into its wire type; says why and where."""

    def __init__(self, subject: str, reason: str) -> None:
        super().__init__(f"{subject}: {reason}")
        self.subject = subject
        self.reason = reason


def encode(message: Message) -> bytes:
    """Serialise a wire message to plain JSON bytes."""
    return _encoder.encode(message)


def _decode(decoder: msgspec.json.Decoder[Any], subject: str, data: bytes) -> Any:
    try:
        return decoder.decode(data)
    except msgspec.DecodeError as exc:  # ValidationError is a subclass
        field = sanity.non_finite_field(data)
        reason = f"{field} is not a finite number (NaN or Infinity)" if field else str(exc)
        raise DecodeError(subject, reason) from None


def _check_account(subject: str, message: Any, account_id: str) -> None:
    if getattr(message, "account_id", account_id) != account_id:
        raise DecodeError(
            subject,
            f"account_id {message.account_id!r} does not match subject account {account_id!r}",
        )


def decode_fact(subject: str, data: bytes) -> Fact:
    """Decode a fact published on `mt5.<account>.<family>…`."""
    try:
        account_id, family, _ = subjects.parse_fact_subject(subject)
    except subjects.SubjectError as exc:
        raise DecodeError(subject, str(exc)) from None
    return decode_fact_of(account_id, family, subject, data)


def decode_fact_of(account_id: str, family: str, subject: str, data: bytes) -> Fact:
    """`decode_fact` for a caller that has already split the subject."""
    decoder = FAMILY_DECODERS.get(family)
    if decoder is None:
        raise DecodeError(subject, f"unknown fact family {family!r}")
    message: Fact = _decode(decoder, subject, data)
    _check_account(subject, message, account_id)
    try:
        sanity.check_fact(message)
    except sanity.InsaneFact as exc:
        raise DecodeError(subject, str(exc)) from None
    return message


def decode_command(subject: str, data: bytes) -> Command:
    """Decode a command published on `cmd.<account>.<kind>`."""
    parts = subject.split(".")
    if len(parts) != 3 or parts[0] != "cmd":
        raise DecodeError(subject, "not a command subject (cmd.<account>.<kind>)")
    command: Command = _decode(COMMAND_DECODER, subject, data)
    _check_account(subject, command, parts[1])
    return command


def fact_msg_id(account_id: str, kind: str, source_id: object) -> str:
    """Deterministic `Nats-Msg-Id` for a fact: account, kind and a source id."""
    return f"{account_id}:{kind}:{source_id}"
