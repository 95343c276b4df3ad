"""Notification config, severities, messages and secret masking (pure logic, no network)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from config.errors import ConfigError
from config.loader import check_config
from config.models import ALERT_KINDS, AlertsConfig, NotifyConfig, WebhookConfig, expand_env
from mtq.http.alerts import AlertRecord
from mtq.http.notify import Notifier, build_targets, message, severity
from mtq.http.webhooks import _delay

SECRET = "123456789:AAsecretTOKENvalue"


@pytest.mark.parametrize(
    ("kind", "data", "want"),
    [
        ("DrawdownWarning", {}, "warning"),
        ("FeedStale", {}, "warning"),
        ("AgentUnhealthy", {}, "warning"),
        ("DrawdownBreached", {}, "critical"),
        ("LiquidationPending", {}, "critical"),
        ("LiquidationOrdered", {}, "critical"),
        ("PositionCloseOrdered", {}, "critical"),
        ("TradingStateChanged", {"state": "HALTED"}, "critical"),
        ("TradingStateChanged", {"state": "REDUCING"}, "info"),
        ("LiquidationCancelled", {}, "info"),
        ("FeedRestored", {}, "info"),
    ],
)
def test_severity_when_kind_then_its_level(kind: str, data: dict[str, str], want: str) -> None:
    assert severity(kind, data) == want


def test_severity_when_every_alert_kind_then_one_of_the_three() -> None:
    assert {severity(k, {}) for k in ALERT_KINDS} == {"info", "warning", "critical"}


@pytest.mark.parametrize(
    ("minimum", "takes"),
    [
        ("info", {"info", "warning", "critical"}),
        ("warning", {"warning", "critical"}),
        ("critical", {"critical"}),
    ],
)
def test_min_severity_when_set_then_takes_that_and_above(minimum: str, takes: set[str]) -> None:
    target = NotifyConfig.model_validate({"url": "json://localhost", "min_severity": minimum})
    assert {s for s in ("info", "warning", "critical") if target.wants(s)} == takes


def test_backoff_when_attempts_then_the_webhooks_formula() -> None:
    params: dict[str, Any] = {
        "backoff_initial_s": 0.5,
        "backoff_factor": 3.0,
        "backoff_max_s": 10.0,
    }
    target = NotifyConfig(url="json://localhost", **params)
    hook = WebhookConfig(url="http://localhost/x", **params)
    assert [target.delay(a) for a in range(1, 6)] == [_delay(hook, a) for a in range(1, 6)]
    assert [target.delay(a) for a in range(1, 5)] == [0.5, 1.5, 4.5, 10.0]


def test_message_when_breach_then_title_and_body_name_account_and_numbers() -> None:
    alert = AlertRecord(
        3,
        "2026-03-02T10:00:00+00:00",
        "acc-a",
        "DrawdownBreached",
        "daily limit breached: equity 94000.00, floor 95000.00; action liquidate",
        {"account_id": "acc-a", "rule": "daily", "floor": 95000.0, "value": 94000.0},
    )
    title, body = message(alert)
    assert title == "mtq critical: acc-a DrawdownBreached"
    assert body.splitlines()[0] == alert.summary
    assert "floor: 95000.00" in body
    assert "value: 94000.00" in body
    assert "time: 2026-03-02T10:00:00+00:00" in body
    assert "alert id: 3" in body


def test_config_when_variable_unset_then_error_names_file_key_and_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MTQ_TEST_TG_TOKEN", raising=False)
    path = tmp_path / "mtq.yaml"
    path.write_text(
        "accounts: []\nalerts:\n  notify:\n"
        "    - url: mailto://localhost?to=a@example.com\n"
        "    - url: tgram://${MTQ_TEST_TG_TOKEN}/555\n      min_severity: critical\n"
    )
    config, result = check_config(path)
    assert config is None
    (issue,) = result.errors
    assert issue.file == str(path)
    assert issue.line == 5
    assert issue.path == "alerts.notify[1].url"
    assert "MTQ_TEST_TG_TOKEN is not set" in issue.message


def test_config_when_variable_set_then_loaded_without_the_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MTQ_TEST_TG_TOKEN", SECRET)
    path = tmp_path / "mtq.yaml"
    path.write_text(
        "accounts: []\nalerts:\n  notify:\n    - {url: 'tgram://${MTQ_TEST_TG_TOKEN}/555'}\n"
    )
    config, result = check_config(path)
    assert config is not None, result.lines()
    assert config.alerts.notify[0].url == "tgram://${MTQ_TEST_TG_TOKEN}/555"
    assert SECRET not in config.model_dump_json()


def test_config_when_bad_entries_then_clear_errors() -> None:
    with pytest.raises(ValidationError, match="not an environment variable name"):
        NotifyConfig(url="tgram://${not-a-name}/1")
    with pytest.raises(ValidationError, match="apprise URL"):
        NotifyConfig(url="just words")
    with pytest.raises(ValidationError, match="min_severity"):
        NotifyConfig.model_validate({"url": "json://localhost", "min_severity": "loud"})
    with pytest.raises(ValidationError, match="used more than once: ops"):
        AlertsConfig(
            notify=(
                NotifyConfig(url="json://a", name="ops"),
                NotifyConfig(url="json://b", name="ops"),
            )
        )


def test_expand_when_pieces_then_replaced_and_unset_is_named() -> None:
    env = {"HOST": "mail.example.com", "PW": "s3cret"}
    assert expand_env("mailtos://me:${PW}@${HOST}", env) == "mailtos://me:s3cret@mail.example.com"
    with pytest.raises(ConfigError, match="MISSING is not set"):
        expand_env("tgram://${MISSING}/1", env)


def test_targets_when_built_then_expanded_and_secret_never_shown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TG", "checked at load")
    configs = (
        NotifyConfig(url="json://localhost"),  # no secret, default name
        NotifyConfig(url="tgram://${TG}/555", name="phone", min_severity="critical"),
    )
    # The config checked the variable is set; the API expands it from the environ it is given.
    targets, secrets = build_targets(configs, {"TG": SECRET})
    assert set(targets) == {"notify:1", "notify:phone"}
    assert secrets == {SECRET}
    assert targets["notify:phone"].shown_url == "tgram://${TG}/555"
    assert all(SECRET not in t.shown_url for t in targets.values())
    with pytest.raises(ConfigError, match=r"alerts.notify\[1\]: .*TG is not set"):
        build_targets(configs, {})
    with pytest.raises(ConfigError, match=r"alerts.notify\[0\]: apprise does not know"):
        build_targets((NotifyConfig(url="nosuchservice://x"),), {})


async def test_logs_when_apprise_logs_the_secret_then_masked(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from mtq.http.alerts import AlertStore

    monkeypatch.setenv("TG", SECRET)
    store = AlertStore(None)
    notifier = Notifier((NotifyConfig(url="tgram://${TG}/555"),), store, environ={"TG": SECRET})
    try:
        with caplog.at_level(logging.INFO, logger="apprise"):
            logging.getLogger("apprise").info("posting to https://api.telegram.org/bot%s/", SECRET)
        assert "bot***/" in caplog.text
        assert SECRET not in caplog.text
    finally:
        await notifier.close()
        store.close()
    with caplog.at_level(logging.INFO, logger="apprise"):
        logging.getLogger("apprise").info("after close: %s", "plain")
    assert "after close: plain" in caplog.text


def test_api_when_apprise_does_not_know_a_url_then_refused_naming_file_and_entry(
    tmp_path: Path,
) -> None:
    # `mtq api run` and `mtq up` turn this into one line and exit 2.
    from config.errors import ConfigError
    from mtq.bootstrap import check_api_secrets

    path = tmp_path / "mtq.yaml"
    path.write_text("accounts: []\nalerts:\n  notify:\n    - {url: 'tgramm://oops/1'}\n")
    config, result = check_config(path)
    assert config is not None, result.lines()
    with pytest.raises(ConfigError) as refused:
        check_api_secrets(config)
    assert f"{path}: alerts.notify[0]: apprise does not know the URL 'tgramm://oops/1'" in str(
        refused.value
    )
