"""Bearer tokens: names and SHA-256 hashes from config or `MTQ_API_TOKENS`; never logged.

Control endpoints always need a token; with none configured they answer 403 saying how to
configure one. Reads are open when the API listens on loopback only, and need a token when
it is bound elsewhere. The token's name is recorded for risk control as `api:<name>` (the
API's NATS identity is the one allowed to name a token).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Final

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from config.models import ApiTokenConfig

ENV_TOKENS: Final = "MTQ_API_TOKENS"
HOW_TO_ENABLE: Final = (
    "no API token is configured: add `api: {tokens: [{name: NAME, sha256: HEX}]}` to the "
    "config (HEX: `printf %s TOKEN | sha256sum`) or set MTQ_API_TOKENS=NAME:TOKEN[,NAME:TOKEN]"
    ", then restart the API"
)


class TokenFormatError(ValueError):
    """MTQ_API_TOKENS is not `NAME:TOKEN[,NAME:TOKEN]`."""


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def tokens_from_env(value: str | None) -> dict[str, str]:
    """`NAME:TOKEN,NAME:TOKEN` as {name: sha256}; the tokens themselves are not kept."""
    found: dict[str, str] = {}
    for entry in (value or "").split(","):
        if not entry.strip():
            continue
        name, sep, token = entry.strip().partition(":")
        if not sep or not name.strip() or not token.strip():
            raise TokenFormatError(f"{ENV_TOKENS} entries are NAME:TOKEN, comma-separated")
        found[name.strip()] = hash_token(token.strip())
    return found


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Tokens:
    """Known tokens by name (SHA-256 hex) and whether reads need one."""

    hashes: Mapping[str, str]
    reads_need_token: bool = False

    @classmethod
    def build(
        cls, configured: Iterable[ApiTokenConfig], env_value: str | None, *, host: str
    ) -> Tokens:
        hashes = {t.name: t.sha256 for t in configured} | tokens_from_env(env_value)
        return cls(hashes=hashes, reads_need_token=not is_loopback(host))

    def name_of(self, token: str) -> str | None:
        """The name of a valid token (compared in constant time), else None."""
        digest = hash_token(token)
        found = None
        for name, known in self.hashes.items():
            if hmac.compare_digest(digest, known):
                found = name
        return found

    def check(self, request: Request) -> str:
        """The caller's token name; 403 when no token exists, 401 when absent or wrong."""
        if not self.hashes:
            raise HTTPException(403, HOW_TO_ENABLE)
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise HTTPException(
                401,
                "this endpoint needs a bearer token: send `Authorization: Bearer TOKEN`",
                headers={"WWW-Authenticate": "Bearer"},
            )
        name = self.name_of(token.strip())
        if name is None:
            raise HTTPException(
                401, "the bearer token is not valid", headers={"WWW-Authenticate": "Bearer"}
            )
        return name


BEARER: Final = HTTPBearer(
    auto_error=False,
    description="a token from `api.tokens` (config, SHA-256) or MTQ_API_TOKENS; risk control "
    "records `api:<its name>` as the actor",
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)]


def control_actor(request: Request, _: Credentials) -> str:
    """Dependency of control endpoints: the token's name (recorded as `api:<name>`)."""
    tokens: Tokens = request.app.state.tokens
    return tokens.check(request)


def reader(request: Request, _: Credentials) -> str | None:
    """Dependency of read endpoints: open on loopback, else a valid token."""
    tokens: Tokens = request.app.state.tokens
    if not tokens.reads_need_token:
        return None
    return tokens.check(request)
