"""CLI options shared by every command (docs/architecture.md §9 names)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

NatsUrlOption = Annotated[
    str | None,
    typer.Option(
        "--nats-url",
        envvar="NATS_URL",
        help="NATS server URL (default: NATS_URL, else the URL a running `mtq up` wrote "
        "into its data dir).",
        show_envvar=True,
    ),
]
NatsPortOption = Annotated[
    int | None,
    typer.Option(
        "--nats-port",
        help="Port for the embedded nats-server (0: any free port). Without it 4222, or a "
        "free port if 4222 is taken; a given port that is taken is an error.",
    ),
]
DataOption = Annotated[
    Path, typer.Option("--data", help="Data directory (NATS store, outboxes, read models).")
]
ConfigOption = Annotated[
    Path,
    typer.Option("--config", "-c", help="Account configuration YAML file."),
]
