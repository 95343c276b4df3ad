"""Generated identities: file modes, stable seeds, re-issued permissions, malformed files."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from bus.connection import BadNatsCredentials, ConnectSettings, connect
from bus.security.authdir import AuthDir
from bus.security.tokens import BadCredentials, jwt_claims, read_creds


def test_generate_when_first_run_then_every_file_is_private(tmp_path: Path) -> None:
    auth = AuthDir(tmp_path / "auth").generate(["a-1"])
    files = [p for p in auth.path.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"admin.creds", "agent-a-1.creds", "server-auth.conf"}
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE(auth.path.stat().st_mode) == 0o700


def test_generate_when_run_again_then_seeds_kept_and_new_accounts_added(tmp_path: Path) -> None:
    auth = AuthDir(tmp_path / "auth").generate(["a-1"])
    before = read_creds(auth.admin_creds)
    again = AuthDir(tmp_path / "auth").generate(["a-1", "b-2"])
    assert again.created == ["agent-b-2"]
    assert again.updated == []
    assert read_creds(auth.admin_creds).key.seed == before.key.seed


def test_generate_when_permissions_changed_then_jwt_reissued_with_same_seed(
    tmp_path: Path,
) -> None:
    auth = AuthDir(tmp_path / "auth").generate(["a-1"])
    path = auth.creds("engine")
    seed = read_creds(path).key.seed
    text = path.read_text()
    # an engine creds file from an older mtq: same seed, other permissions
    from bus.security.tokens import KeyPair, encode_jwt, render_creds

    account = KeyPair.from_seed((auth.path / "keys" / "account.nk").read_text().strip())
    user = KeyPair.from_seed(seed)
    path.write_text(
        render_creds(encode_jwt(account, user.public, "engine", {"type": "user"}), seed)
    )
    assert path.read_text() != text
    again = AuthDir(tmp_path / "auth").generate(["a-1"])
    assert again.updated == ["engine"]
    creds = read_creds(path)
    assert creds.key.seed == seed
    assert "risk.>" in jwt_claims(creds.jwt)["nats"]["pub"]["allow"]


@pytest.mark.parametrize(
    "content",
    ["", "hello\n", "-----BEGIN NATS USER JWT-----\nnot-a-jwt\n------END NATS USER JWT------\n"
     "-----BEGIN USER NKEY SEED-----\nSUNOTASEED\n------END USER NKEY SEED------\n"],
    ids=["empty", "text", "garbage blocks"],
)  # fmt: skip
def test_read_creds_when_malformed_then_one_line_naming_the_file(
    tmp_path: Path, content: str
) -> None:
    path = tmp_path / "bad.creds"
    path.write_text(content)
    with pytest.raises(BadCredentials) as caught:
        read_creds(path)
    message = str(caught.value)
    assert "\n" not in message
    assert str(path) in message
    assert "malformed" in message


async def test_connect_when_creds_malformed_then_bad_credentials_naming_the_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "bad.creds"
    path.write_text("nothing here")
    with pytest.raises(BadNatsCredentials, match=f"NATS credentials file {path} is malformed"):
        await connect(ConnectSettings(url="nats://127.0.0.1:1", creds_file=str(path)))


def test_seeds_when_printed_then_never_shown(tmp_path: Path) -> None:
    auth = AuthDir(tmp_path / "auth").generate([])
    creds = read_creds(auth.admin_creds)
    assert creds.key.seed not in repr(creds)
    assert creds.key.seed not in repr(creds.key)
    settings = ConnectSettings(user="u", password="s3cret-pw")
    assert "s3cret-pw" not in repr(settings)
