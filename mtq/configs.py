"""Load the account configuration for a command, or exit with every problem listed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from config import ConfigError, ConfigFileError, MtqConfig, load_config
from mtq import runtime

ConfigPaths = Annotated[
    list[Path],
    typer.Option("--config", "-c", help="Configuration YAML file(s); later files override."),
]


def load_or_exit(paths: list[Path]) -> MtqConfig:
    """The merged config; unreadable or invalid files print their problems and exit 2."""
    try:
        return load_config(paths)
    except ConfigFileError as exc:
        runtime.fail(str(exc))
    except ConfigError as exc:
        for line in exc.result.lines() if exc.result else [str(exc)]:
            runtime.err_console.print(line, highlight=False, markup=False)
        shown = " ".join(str(p) for p in paths)
        runtime.fail(f"configuration is not valid; run `mtq config validate {shown}`")
