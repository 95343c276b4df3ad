"""A real nats-server trusting mtq's generated identities, and clients logged in as each."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from nats.aio.client import Client

from bus.connection import ConnectSettings, connect
from bus.embedded import EmbeddedNatsServer
from bus.security.authdir import AuthDir
from bus.security.client import ClientAuth

DENIED_WAIT_S = 0.6
"""How long an operation may take before it counts as refused (no answer)."""


@dataclass
class Secured:
    server: EmbeddedNatsServer
    auth: AuthDir

    @property
    def url(self) -> str:
        return self.server.url

    def client_auth(self, identity: str) -> ClientAuth:
        return ClientAuth(creds_file=str(self.auth.creds(identity)))


@contextlib.contextmanager
def secured_server(base: Path, accounts: Iterable[str]) -> Iterator[Secured]:
    """Generate identities for `accounts` in `base/auth` and run a server trusting them."""
    auth = AuthDir(base / "auth").generate(list(accounts))
    with EmbeddedNatsServer(data_dir=base / "nats", auth_conf=auth.server_conf) as server:
        yield Secured(server, auth)


class As:
    """A client of one identity that records the server's permission errors."""

    def __init__(self, nc: Client, errors: list[str]) -> None:
        self.nc = nc
        self.errors = errors

    async def outcome(self, op: Callable[[Client], Awaitable[object]]) -> str:
        """`allowed`, `denied` (the server said permissions violation) or `failed: …`."""
        self.errors.clear()
        failure = ""
        try:
            await asyncio.wait_for(op(self.nc), DENIED_WAIT_S)
        except Exception as exc:  # noqa: BLE001 - the outcome is what the test looks at
            failure = repr(exc)
        await self.nc.flush()
        await asyncio.sleep(0.05)
        if any("permissions violation" in e for e in self.errors):
            return "denied"
        return "allowed" if not failure else f"failed: {failure}"

    async def close(self) -> None:
        await self.nc.close()


async def login(secured: Secured, identity: str) -> As:
    """Connect as `identity` (its own inbox prefix, from its credentials)."""
    errors: list[str] = []

    async def error_cb(exc: Exception) -> None:
        errors.append(str(exc).lower())

    nc = await connect(
        ConnectSettings(url=secured.url, creds_file=str(secured.auth.creds(identity))),
        error_cb=error_cb,
    )
    return As(nc, errors)
