"""`risk.reconciliation.fill_window_seconds`: default, loaded, >= 0, and what the projector uses."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from config import ConfigError, load_config
from projections.settings import settings_for


def _write(tmp_path: Path, reconciliation: str) -> Path:
    path = tmp_path / "cfg.yaml"
    path.write_text(
        textwrap.dedent(
            f"""\
            accounts:
              - id: acc-1
                symbols: [{{name: EURUSD}}]
                risk: {{reconciliation: {reconciliation}}}
            """
        ),
        encoding="utf-8",
    )
    return path


def test_fill_window_when_not_given_then_ten_seconds(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, "{}"))
    assert config.accounts[0].risk.reconciliation.fill_window_seconds == 10.0
    assert settings_for(config)["acc-1"].tolerances.fill_window_s == 10.0


def test_fill_window_when_given_then_the_projector_uses_it(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, "{fill_window_seconds: 2.5}"))
    assert settings_for(config)["acc-1"].tolerances.fill_window_s == 2.5


def test_fill_window_when_zero_then_accepted(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, "{fill_window_seconds: 0}"))
    assert config.accounts[0].risk.reconciliation.fill_window_seconds == 0.0


def test_fill_window_when_negative_then_error_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(_write(tmp_path, "{fill_window_seconds: -1}"))
    assert "risk.reconciliation.fill_window_seconds" in str(caught.value)
