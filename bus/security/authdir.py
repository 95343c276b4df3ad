"""The auth dir: keys, the server's trust config and one `.creds` file per identity.

Layout (every file mode 0600, the dir 0700):

    keys/operator.nk  keys/account.nk  keys/system.nk   seeds: the signing secrets
    server-auth.conf  operator JWT, system account, account JWTs (no secret in it)
    creds/<identity>.creds                               user JWT + seed, one per identity

Generating again keeps every existing key and seed, so credentials handed out stay valid;
a user JWT is re-issued (same seed) only when its permissions changed, and identities of
accounts new in the config are added. Users are not listed in the server config: the server
accepts any user the account key signed, so new agents need no server restart.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from bus.security.identities import ADMIN, Identity, agent_name, all_identities
from bus.security.tokens import (
    ACCOUNT,
    OPERATOR,
    USER,
    BadCredentials,
    KeyPair,
    encode_jwt,
    jwt_claims,
    read_creds,
    render_creds,
)

ACCOUNT_NAME: Final = "MTQ"
SYSTEM_ACCOUNT_NAME: Final = "SYS"
SERVER_CONF: Final = "server-auth.conf"
_LIMITS: Final = {
    "subs": -1,
    "data": -1,
    "payload": -1,
    "imports": -1,
    "exports": -1,
    "wildcards": True,
    "conn": -1,
    "leaf": -1,
}
_JETSTREAM: Final = {"mem_storage": -1, "disk_storage": -1, "streams": -1, "consumer": -1}


class AuthDirError(RuntimeError):
    """The auth dir cannot be read or written; the message is one line naming the file."""


def write_secret(path: Path, text: str) -> None:
    """Write `text` atomically with mode 0600 (never readable by others, not even briefly)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


@dataclass
class AuthDir:
    """Where mtq keeps its NATS identities (e.g. `data/auth`)."""

    path: Path
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)

    @property
    def server_conf(self) -> Path:
        return self.path / SERVER_CONF

    def creds(self, identity: str) -> Path:
        """The credentials file of an identity (`admin`, `engine`, `agent-<acct>`, …)."""
        return self.path / "creds" / f"{identity}.creds"

    def agent_creds(self, account_id: str) -> Path:
        return self.creds(agent_name(account_id))

    @property
    def admin_creds(self) -> Path:
        return self.creds(ADMIN)

    def exists(self) -> bool:
        return self.server_conf.is_file() and self.admin_creds.is_file()

    def generate(self, account_ids: Iterable[str]) -> AuthDir:
        """Make sure keys, server config and every identity's creds exist and are current."""
        self.created, self.updated = [], []
        try:
            self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
            operator = self._key("operator", OPERATOR)
            account = self._key("account", ACCOUNT)
            system = self._key("system", ACCOUNT)
            self._write_server_conf(operator, account, system)
            for identity in all_identities(account_ids):
                self._ensure_user(account, identity)
        except OSError as exc:
            raise AuthDirError(f"cannot write NATS credentials in {self.path}: {exc}") from None
        return self

    def _key(self, name: str, role: int) -> KeyPair:
        path = self.path / "keys" / f"{name}.nk"
        if path.is_file():
            try:
                return KeyPair.from_seed(path.read_text(encoding="utf-8").strip())
            except Exception:  # noqa: BLE001 - any decoding failure means the same to the user
                raise AuthDirError(
                    f"NATS key file {path} is malformed; restore it or remove {self.path} "
                    "to generate new identities (all credentials change)"
                ) from None
        pair = KeyPair.create(role)
        write_secret(path, pair.seed + "\n")
        return pair

    def _write_server_conf(self, operator: KeyPair, account: KeyPair, system: KeyPair) -> None:
        operator_jwt = encode_jwt(
            operator,
            operator.public,
            "mtq",
            {"type": "operator", "system_account": system.public},
        )
        account_jwt = encode_jwt(
            operator,
            account.public,
            ACCOUNT_NAME,
            {"type": "account", "limits": {**_LIMITS, **_JETSTREAM}},
        )
        system_jwt = encode_jwt(
            operator,
            system.public,
            SYSTEM_ACCOUNT_NAME,
            {"type": "account", "limits": dict(_LIMITS)},
        )
        text = (
            "# Generated by mtq (bus/security): trust in mtq's operator key; no secrets here.\n"
            f'operator: "{operator_jwt}"\n'
            f'system_account: "{system.public}"\n'
            "resolver: MEMORY\n"
            "resolver_preload: {\n"
            f'  {account.public}: "{account_jwt}"\n'
            f'  {system.public}: "{system_jwt}"\n'
            "}\n"
        )
        write_secret(self.server_conf, text)

    def _ensure_user(self, account: KeyPair, identity: Identity) -> None:
        path = self.creds(identity.name)
        wanted = identity.claims()
        user: KeyPair | None = None
        if path.is_file():
            try:
                current = read_creds(path)
            except BadCredentials:
                current = None  # rewritten below with a new seed
            if current is not None:
                claims = jwt_claims(current.jwt)
                if claims.get("iss") == account.public and _same(claims.get("nats"), wanted):
                    return
                user = current.key
        fresh = user is None
        user = user or KeyPair.create(USER)
        token = encode_jwt(account, user.public, identity.name, wanted)
        write_secret(path, render_creds(token, user.seed))
        (self.created if fresh else self.updated).append(identity.name)


def _same(have: Any, want: dict[str, Any]) -> bool:
    if not isinstance(have, dict):
        return False
    return {k: v for k, v in have.items() if k != "version"} == want


def default_auth_dir(data_dir: Path) -> AuthDir:
    """The auth dir `mtq up` keeps in its data dir."""
    return AuthDir(data_dir / "auth")
