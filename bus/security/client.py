"""How a client proves who it is and checks the server: credentials, user/password, TLS.

One `ClientAuth` serves nats-py (`nats_options()`) and mtq's own protocol clients of the
event store (`connect_fields()` for CONNECT, `ssl_context()` for the TLS upgrade after
INFO), so every connection of a process uses the same identity and trust.
"""

from __future__ import annotations

import functools
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from bus.security.identities import inbox_prefix
from bus.security.tokens import BadCredentials, Credentials, read_creds

DEFAULT_INBOX_PREFIX: Final = "_INBOX"
ANONYMOUS: Final = "anonymous"
"""Who a client without credentials is (an insecure server authenticates nobody)."""


class BadTlsFiles(ValueError):
    """A certificate, key or CA file that cannot be used; one line naming the file."""


@dataclass(frozen=True)
class TlsFiles:
    """`ca`: the CA that signed the server's certificate (what clients trust).

    `cert`/`key`: the server's certificate and key (for the server), or a client
    certificate for servers that verify clients.
    """

    ca: str | None = None
    cert: str | None = None
    key: str | None = None

    def client_context(self) -> ssl.SSLContext:
        """A TLS context that verifies the server against `ca` (else the system CAs)."""
        try:
            context = ssl.create_default_context(cafile=self.ca)
        except (OSError, ssl.SSLError) as exc:
            raise BadTlsFiles(f"TLS CA file {self.ca} cannot be used: {_reason(exc)}") from None
        if self.cert:
            try:
                context.load_cert_chain(self.cert, self.key)
            except (OSError, ssl.SSLError) as exc:
                raise BadTlsFiles(
                    f"TLS certificate {self.cert} (key {self.key}) cannot be used: {_reason(exc)}"
                ) from None
        return context

    def check_server(self) -> None:
        """Raise `BadTlsFiles` unless the server's certificate and key load."""
        if not self.cert or not self.key:
            raise BadTlsFiles("TLS on the server needs both --tls-cert and --tls-key")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:
            context.load_cert_chain(self.cert, self.key)
        except (OSError, ssl.SSLError) as exc:
            raise BadTlsFiles(
                f"TLS certificate {self.cert} (key {self.key}) cannot be used: {_reason(exc)}"
            ) from None


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or getattr(exc, "reason", None) or type(exc).__name__


@dataclass(frozen=True)
class ClientAuth:
    """A client's identity (creds file, or user and password) and TLS trust."""

    creds_file: str | None = None
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: TlsFiles | None = None

    @property
    def anonymous(self) -> bool:
        return not (self.creds_file or self.user)

    def describe(self) -> str:
        """Who connects, for error lines (never a secret)."""
        if self.creds_file:
            return f"credentials file {self.creds_file}"
        if self.user:
            return f"user {self.user!r}"
        return "a connection without credentials"

    def credentials(self) -> Credentials | None:
        """The parsed creds file (checked once per process); `BadCredentials` if unusable."""
        return _read(self.creds_file) if self.creds_file else None

    def identity(self) -> str:
        """Who the server knows this client as: the credentials' user name, the user, else
        `anonymous`; the token of its `mtq.risk.control.<identity>` subject."""
        creds = self.credentials()
        if creds is not None and creds.name:
            return creds.name
        return self.user or ANONYMOUS

    def inbox_prefix(self) -> str:
        """The identity's own inbox prefix (its permissions allow no other)."""
        creds = self.credentials()
        return inbox_prefix(creds.name) if creds and creds.name else DEFAULT_INBOX_PREFIX

    def ssl_context(self) -> ssl.SSLContext | None:
        return self.tls.client_context() if self.tls else None

    def nats_options(self) -> dict[str, Any]:
        """Keyword arguments for `nats.connect`."""
        options: dict[str, Any] = {}
        if self.creds_file:
            self.credentials()  # a malformed file: one clear line, not a nats-py traceback
            options["user_credentials"] = self.creds_file
            options["inbox_prefix"] = self.inbox_prefix()
        elif self.user:
            options["user"] = self.user
            options["password"] = self.password
        context = self.ssl_context()
        if context is not None:
            options["tls"] = context
        return options

    def connect_fields(self, info: dict[str, Any]) -> dict[str, str]:
        """Authentication fields of a CONNECT answering the server's INFO."""
        creds = self.credentials()
        if creds is not None:
            nonce = str(info.get("nonce", ""))
            return {"jwt": creds.jwt, "sig": creds.sign_nonce(nonce)}
        if self.user:
            return {"user": self.user, "pass": self.password or ""}
        return {}


@functools.lru_cache(maxsize=64)
def _read(path: str) -> Credentials:
    return read_creds(Path(path))


__all__ = ["BadCredentials", "BadTlsFiles", "ClientAuth", "TlsFiles"]
