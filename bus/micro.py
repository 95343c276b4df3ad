"""Endpoints of mtq's NATS micro services: JSON request in, JSON reply or a micro error out.

Errors are NATS micro error headers (`Nats-Service-Error-Code`, `Nats-Service-Error`) with
a `ServiceError` JSON body, so callers in any language can tell 400 from 404 from 500.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar

import msgspec
from nats.micro.request import Request

from bus.codec import encode
from bus.schemas.base import Message
from bus.schemas.risk import ServiceError

log = logging.getLogger(__name__)

R = TypeVar("R")
Handler = Callable[[Request], Awaitable[None]]
ErrorCodes = Mapping[type[Exception], int]


class ServiceRequestError(Exception):
    """A request the service refuses: `code` is HTTP-like (400, 404, 409, 503)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def decode_request(data: bytes, kind: type[R]) -> R:
    """The request as `kind`; an empty body is `{}`; bad JSON or fields are a 400."""
    try:
        return msgspec.json.decode(data if data.strip() else b"{}", type=kind)
    except msgspec.DecodeError as exc:
        raise ServiceRequestError(400, f"bad {kind.__name__}: {exc}") from None


async def respond_error(request: Request, code: int, message: str) -> None:
    body = msgspec.json.encode(ServiceError(code=code, message=message))
    await request.respond_error(str(code), message, data=body)


def endpoint(
    kind: type[R],
    answer: Callable[[R], Awaitable[Message]],
    *,
    service: str,
    errors: ErrorCodes | None = None,
) -> Handler:
    """A handler decoding `kind`, answering with `answer`, mapping `errors` to codes.

    Any other exception is logged and answered as a 500; nothing escapes to nats-py.
    """
    codes = dict(errors or {})

    async def handle(request: Request) -> None:
        try:
            reply = await answer(decode_request(request.data, kind))
        except ServiceRequestError as exc:
            await respond_error(request, exc.code, exc.message)
            return
        except Exception as exc:
            code = next((c for t, c in codes.items() if isinstance(exc, t)), None)
            if code is None:
                log.exception("%s request failed", service)
                await respond_error(request, 500, f"{type(exc).__name__}: {exc}")
            else:
                await respond_error(request, code, str(exc))
            return
        await request.respond(encode(reply))

    return handle
