"""The config's `api` section and API tokens: validation naming file, key and rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import check_config, load_config
from mtq.http.auth import TokenFormatError, Tokens, hash_token, is_loopback, tokens_from_env

A64, B64 = "a" * 64, "b" * 64
ACCOUNT = "accounts:\n  - {id: a1, symbols: [{name: EURUSD}]}\n"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mtq.yaml"
    path.write_text(text + ACCOUNT, encoding="utf-8")
    return path


def test_api_section_when_valid_then_tokens_and_webhooks_loaded(tmp_path: Path) -> None:
    digest = hash_token("t0ken")
    path = _write(
        tmp_path,
        f"""api:
  tokens: [{{name: alice, sha256: {digest.upper()}}}]
  webhooks:
    - {{url: "https://hooks.example/x", events: [DrawdownBreached], secret_env: HOOK_KEY}}
""",
    )
    config = load_config(path)
    assert config.api.tokens[0].name == "alice"
    assert config.api.tokens[0].sha256 == digest
    hook = config.api.webhooks[0]
    assert hook.wants("DrawdownBreached")
    assert not hook.wants("DrawdownWarning")
    assert hook.max_attempts == 5


def test_api_section_when_absent_then_empty(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, ""))
    assert config.api.tokens == ()
    assert config.api.webhooks == ()


@pytest.mark.parametrize(
    ("section", "where", "rule"),
    [
        (
            "api:\n  tokens: [{name: alice, sha256: plaintext}]\n",
            "api.tokens[0].sha256",
            "sha256_hex",
        ),
        (
            "api:\n  tokens: [{name: 'a b', sha256: " + "0" * 64 + "}]\n",
            "api.tokens[0].name",
            "token_name",
        ),
        (
            f"api:\n  tokens: [{{name: a, sha256: '{A64}'}}, {{name: a, sha256: '{B64}'}}]\n",
            "api.tokens",
            "duplicate_token",
        ),
        ("api:\n  webhooks: [{url: 'ftp://x.example'}]\n", "api.webhooks[0].url", "url"),
        (
            "api:\n  webhooks: [{url: 'https://x.example', events: [Nope]}]\n",
            "api.webhooks[0].events",
            "alert_kind",
        ),
        (
            "api:\n  webhooks: [{url: 'https://x.example', secret_env: '1bad'}]\n",
            "api.webhooks[0].secret_env",
            "env_var_name",
        ),
        (
            "api:\n  webhooks: [{url: 'https://x.example', max_attempts: 0}]\n",
            "api.webhooks[0].max_attempts",
            "range",
        ),
        ("api:\n  listen: 1\n", "api.listen", "unknown_key"),
    ],
)
def test_api_section_when_invalid_then_error_names_file_key_and_rule(
    tmp_path: Path, section: str, where: str, rule: str
) -> None:
    path = _write(tmp_path, section)
    config, result = check_config(path)
    assert config is None
    issues = [(i.file, i.path, i.rule) for i in result.errors]
    assert (str(path), where, rule) in issues, result.lines()


def test_tokens_from_env_when_pairs_then_hashed_by_name() -> None:
    assert tokens_from_env("alice:one, bob:two") == {
        "alice": hash_token("one"),
        "bob": hash_token("two"),
    }
    assert tokens_from_env(None) == {}
    with pytest.raises(TokenFormatError):
        tokens_from_env("alice")


def test_tokens_when_checked_then_names_found_in_constant_time() -> None:
    tokens = Tokens.build((), "alice:one", host="127.0.0.1")
    assert tokens.name_of("one") == "alice"
    assert tokens.name_of("two") is None
    assert not tokens.reads_need_token
    assert Tokens.build((), None, host="0.0.0.0").reads_need_token
    assert is_loopback("::1")
    assert is_loopback("localhost")
    assert not is_loopback("192.168.1.2")
