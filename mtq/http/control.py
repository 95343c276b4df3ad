"""Requests to the NATS micro services (`mtq-agents`, `mtq-risk`) with their errors as HTTP.

A service error reply (`Nats-Service-Error-Code` 400/404/409/503) becomes that HTTP status
with the service's message; no responder or no answer in time becomes 503 naming the
service; a connection that is down becomes 503 as well.
"""

from __future__ import annotations

import json
from typing import Any, Final

from fastapi import HTTPException
from nats.aio.client import Client
from nats.errors import ConnectionClosedError, NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

PASSED_ON: Final = frozenset({400, 404, 409, 422, 503})


class ServiceClient:
    """JSON requests to one NATS micro service."""

    def __init__(self, nc: Client | None, service: str, timeout_s: float = 5.0) -> None:
        self.nc = nc
        self.service = service
        self.timeout_s = timeout_s

    async def request(
        self, subject: str, body: dict[str, Any], timeout_s: float | None = None
    ) -> Any:
        """The reply as JSON; HTTPException for errors, no responder or timeout."""
        if self.nc is None or not self.nc.is_connected:
            raise HTTPException(503, f"{self.service} cannot be reached: NATS is not connected")
        try:
            reply = await self.nc.request(
                subject, json.dumps(body).encode(), timeout=timeout_s or self.timeout_s
            )
        except NoRespondersError:
            raise HTTPException(
                503, f"{self.service} is not running (no responder on {subject})"
            ) from None
        except NatsTimeout:
            raise HTTPException(
                503, f"{self.service} did not answer on {subject} in {self.timeout_s:g}s"
            ) from None
        except ConnectionClosedError:
            raise HTTPException(
                503, f"{self.service} cannot be reached: NATS connection closed"
            ) from None
        headers = reply.headers or {}
        code = headers.get("Nats-Service-Error-Code")
        if code is not None:
            raise _error(self.service, code, headers.get("Nats-Service-Error", ""))
        try:
            return json.loads(reply.data or b"null")
        except ValueError:
            raise HTTPException(
                502, f"{self.service} answered with something that is not JSON"
            ) from None


def _error(service: str, code: str, message: str) -> HTTPException:
    try:
        status = int(code)
    except ValueError:
        status = 502
    if status not in PASSED_ON:
        return HTTPException(502, f"{service} failed: {message or 'error ' + code}")
    return HTTPException(status, message or f"{service} answered {status}")
