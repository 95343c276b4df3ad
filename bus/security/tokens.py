"""NATS nkeys, JWTs and `.creds` files: what `nsc` makes, made here without it.

An nkey is an Ed25519 key pair encoded the NATS way (base32 with a role prefix and a CRC);
a JWT is `header.claims.signature`, signed by the issuer's nkey. The server trusts the
operator's JWT (in its config), the operator signs the account JWTs (preloaded into the
server), and the account signs one user JWT per identity. A `.creds` file holds a user JWT
and the user's seed; every NATS client and the `nats` CLI read it as it is.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import nkeys

OPERATOR: Final = nkeys.PREFIX_BYTE_OPERATOR
ACCOUNT: Final = nkeys.PREFIX_BYTE_ACCOUNT
USER: Final = nkeys.PREFIX_BYTE_USER

_HEADER: Final = {"typ": "JWT", "alg": "ed25519-nkey"}
_CREDS = re.compile(
    r"-{3,}BEGIN NATS USER JWT-{3,}\s*(?P<jwt>\S+)\s*-{3,}END NATS USER JWT-{3,}.*?"
    r"-{3,}BEGIN USER NKEY SEED-{3,}\s*(?P<seed>\S+)\s*-{3,}END USER NKEY SEED-{3,}",
    re.DOTALL,
)


class BadCredentials(ValueError):
    """A credentials file mtq cannot use; the message is one line naming the file."""


@dataclass(frozen=True)
class KeyPair:
    """An nkey: `seed` is the secret, `public` the name others know it by."""

    seed: str
    public: str

    @classmethod
    def create(cls, role: int) -> KeyPair:
        return cls.from_seed(nkeys.encode_seed(os.urandom(32), role).decode())

    @classmethod
    def from_seed(cls, seed: str) -> KeyPair:
        pair = nkeys.from_seed(seed.encode())
        return cls(seed=seed, public=pair.public_key.decode())

    def sign(self, data: bytes) -> bytes:
        signature: bytes = nkeys.from_seed(self.seed.encode()).sign(data)
        return signature

    def __repr__(self) -> str:  # the seed never reaches a log line
        return f"KeyPair(public={self.public!r})"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode_jwt(issuer: KeyPair, subject: str, name: str, nats: dict[str, Any]) -> str:
    """A v2 NATS JWT about `subject`, signed by `issuer`."""
    claims: dict[str, Any] = {
        "iat": int(time.time()),
        "iss": issuer.public,
        "name": name,
        "sub": subject,
        "nats": {**nats, "version": 2},
    }
    # The JWT id is the base32 SHA-512/256 of the claims without it, as the jwt library does.
    digest = hashlib.new("sha512_256", json.dumps(claims, sort_keys=True).encode()).digest()
    claims["jti"] = base64.b32encode(digest).decode().rstrip("=")
    signing_input = f"{_b64(json.dumps(_HEADER).encode())}.{_b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{_b64(issuer.sign(signing_input.encode()))}"


def jwt_claims(token: str) -> dict[str, Any]:
    """The claims of a JWT (not verified: the server does that)."""
    try:
        claims: dict[str, Any] = json.loads(_unb64(token.split(".")[1]))
    except (IndexError, ValueError) as exc:
        raise ValueError(f"not a JWT: {exc}") from None
    return claims


def render_creds(user_jwt: str, seed: str) -> str:
    """A `.creds` file in the layout `nsc generate creds` writes."""
    return (
        "-----BEGIN NATS USER JWT-----\n"
        f"{user_jwt}\n"
        "------END NATS USER JWT------\n\n"
        "************************* IMPORTANT *************************\n"
        "NKEY Seed printed below can be used to sign and prove identity.\n"
        "NKEYs are sensitive and should be treated as secrets.\n\n"
        "-----BEGIN USER NKEY SEED-----\n"
        f"{seed}\n"
        "------END USER NKEY SEED------\n\n"
        "*************************************************************\n"
    )


@dataclass(frozen=True)
class Credentials:
    """A user JWT and its key, read from a `.creds` file."""

    path: Path
    jwt: str
    key: KeyPair
    name: str

    def sign_nonce(self, nonce: str) -> str:
        """The `sig` field of CONNECT: the nonce signed with the user's seed."""
        return _b64(self.key.sign(nonce.encode()))

    def __repr__(self) -> str:
        return f"Credentials(path={str(self.path)!r}, name={self.name!r})"


def read_creds(path: str | Path) -> Credentials:
    """Read and check a `.creds` file; raise `BadCredentials` naming the file."""
    where = Path(path)
    try:
        text = where.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadCredentials(f"NATS credentials file {where} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadCredentials(f"NATS credentials file {where} cannot be read: {exc}") from None
    match = _CREDS.search(text)
    if match is None:
        raise BadCredentials(
            f"NATS credentials file {where} is malformed: it needs a 'BEGIN NATS USER JWT' "
            "block and a 'BEGIN USER NKEY SEED' block (as `mtq nats auth generate` writes)"
        )
    try:
        claims = jwt_claims(match["jwt"])
        key = KeyPair.from_seed(match["seed"])
    except (ValueError, nkeys.NkeysError) as exc:
        name = type(exc).__name__
        raise BadCredentials(
            f"NATS credentials file {where} is malformed: bad JWT or seed ({name})"
        ) from None
    if claims.get("sub") != key.public:
        raise BadCredentials(
            f"NATS credentials file {where} is malformed: its seed does not belong to its JWT"
        )
    return Credentials(path=where, jwt=match["jwt"], key=key, name=str(claims.get("name", "")))
