"""The generated credentials grant exactly what the README's Security table documents
(issue 21 item 3): decode every identity's user JWT and compare, so the two cannot drift."""

from __future__ import annotations

from typing import Any

import pytest

from bus.security.authdir import AuthDir
from bus.security.tokens import jwt_claims, read_creds
from tests.security.permission_table import README, Documented, documented

ACCOUNTS = ["ftmo-001", "strict-003"]
STRATEGIES = ["demo"]


def granted(auth: AuthDir, identity: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt_claims(read_creds(auth.creds(identity)).jwt)["nats"]
    return claims


@pytest.fixture(scope="module")
def auth(tmp_path_factory: pytest.TempPathFactory) -> AuthDir:
    return AuthDir(tmp_path_factory.mktemp("table") / "auth").generate(ACCOUNTS, STRATEGIES)


@pytest.fixture(scope="module")
def table() -> dict[str, Documented]:
    return documented(ACCOUNTS, strategies=STRATEGIES)


def test_table_when_parsed_then_every_generated_identity_and_no_other(
    auth: AuthDir, table: dict[str, Documented]
) -> None:
    generated = {p.stem for p in (auth.path / "creds").glob("*.creds")}
    assert set(table) == generated


@pytest.mark.parametrize(
    "identity",
    [
        "admin",
        "supervisor",
        "engine",
        "projector",
        "api",
        *(f"agent-{a}" for a in ACCOUNTS),
        *(f"strategy-{s}" for s in STRATEGIES),
    ],
)
def test_credentials_when_decoded_then_exactly_the_documented_permissions(
    auth: AuthDir, table: dict[str, Documented], identity: str
) -> None:
    claims, doc = granted(auth, identity), table[identity]
    pub = claims.get("pub", {}).get("allow")
    sub = claims.get("sub", {}).get("allow")
    assert (None if pub is None else set(pub)) == (None if doc.pub is None else set(doc.pub))
    assert (None if sub is None else set(sub)) == (None if doc.sub is None else set(doc.sub))
    assert "deny" not in claims.get("pub", {}), "the table documents allow lists only"
    responds = "resp" in claims or (pub is None and sub is None)
    assert responds == doc.responds
    assert claims["payload"] == doc.max_payload


def test_table_when_a_subject_is_added_to_the_readme_then_it_no_longer_matches(
    auth: AuthDir,
) -> None:
    text = README.read_text("utf-8")
    row = "| `projector` | `$KV.mtq_status.>`, "
    assert row in text
    widened = documented(ACCOUNTS, text.replace(row, row + "`dlq.>`, "))
    pub = set(granted(auth, "projector")["pub"]["allow"])
    assert widened["projector"].pub is not None
    assert set(widened["projector"].pub) - pub == {"dlq.>"}


def test_table_when_legend_names_a_stream_then_its_subjects_are_substituted() -> None:
    table = documented(["a-1"])
    engine = table["engine"].pub or frozenset()
    assert "$JS.API.CONSUMER.MSG.NEXT.RISK.*" in engine
    assert "$JS.API.CONSUMER.MSG.NEXT.<S>.*" not in engine
    agent = table["agent-a-1"].pub or frozenset()
    assert "$JS.API.CONSUMER.CREATE.CMD.agent-a-1.cmd.a-1.>" in agent
    assert not any("<" in s for s in agent)
