"""API rate limits (`api.rate_limits`): per token, else per client address, in moving windows.

A request with a valid bearer token counts against that token's name; one without a token
(or with a wrong one) against its client address, so made-up tokens buy nothing and one
token's flood never slows another's requests. GET, HEAD and OPTIONS count as reads; every
other method (worker and risk control, the pre-trade check) as control, the lower limit.
`/health`, the dashboard's static files and the docs' assets are not counted. Over a limit:
429 `{"code", "message", "detail"}` with `Retry-After`, the seconds until a request is
admitted again. Counts are kept in memory by `limits`, per API process.
"""

from __future__ import annotations

import json
import math
import time
from typing import Final, Literal

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.types import ASGIApp, Receive, Scope, Send

from config.models import RateLimitsConfig
from mtq.http.auth import Tokens

Kind = Literal["reads", "control"]
READ_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
UNCOUNTED: Final = ("/static/", "/docs/assets/")
UNCOUNTED_PATHS: Final = frozenset({"/health"})


class RateLimiter:
    """Moving-window counters of reads and control requests by caller."""

    def __init__(self, config: RateLimitsConfig) -> None:
        self.limits: dict[Kind, RateLimitItem] = {
            "reads": parse(config.reads),
            "control": parse(config.control),
        }
        self._windows = MovingWindowRateLimiter(MemoryStorage())

    def admit(self, kind: Kind, caller: str) -> float | None:
        """None when the request is admitted (and counted), else seconds until one would be."""
        item = self.limits[kind]
        if self._windows.hit(item, kind, caller):
            return None
        stats = self._windows.get_window_stats(item, kind, caller)
        return max(0.0, stats.reset_time - time.time())


def caller_of(scope: Scope, tokens: Tokens | None) -> tuple[str, str]:
    """(counter key, how the 429 names the caller): the token's name, else the address."""
    headers = dict(scope.get("headers") or ())
    scheme, _, token = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
    if tokens is not None and scheme.lower() == "bearer" and token.strip():
        name = tokens.name_of(token.strip())
        if name is not None:
            return f"token:{name}", f"token {name!r}"
    client = scope.get("client")
    address = str(client[0]) if client else "unknown"
    return f"address:{address}", f"address {address}"


def kind_of(method: str) -> Kind:
    return "reads" if method in READ_METHODS else "control"


class RateLimit:
    """ASGI middleware: counts each HTTP request and answers 429 over the limit."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] != "http" or path in UNCOUNTED_PATHS or path.startswith(UNCOUNTED):
            await self.app(scope, receive, send)
            return
        app = scope.get("app")
        tokens: Tokens | None = getattr(getattr(app, "state", None), "tokens", None)
        key, named = caller_of(scope, tokens)
        kind = kind_of(str(scope["method"]))
        wait = self.limiter.admit(kind, key)
        if wait is None:
            await self.app(scope, receive, send)
            return
        await self._refuse(send, kind, named, wait)

    async def _refuse(self, send: Send, kind: Kind, named: str, wait: float) -> None:
        seconds = max(1, math.ceil(wait))
        limit = self.limiter.limits[kind]
        message = (
            f"too many {kind} requests from {named}: the limit is {limit} "
            f"(config `api.rate_limits.{kind}`); retry in {seconds} s"
        )
        detail = {"kind": kind, "limit": str(limit), "retry_after_s": seconds}
        body = json.dumps({"code": 429, "message": message, "detail": detail}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"retry-after", str(seconds).encode()),
        ]
        await send({"type": "http.response.start", "status": 429, "headers": headers})
        await send({"type": "http.response.body", "body": body})
