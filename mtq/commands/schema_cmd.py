"""`mtq schema export`: JSON Schemas and AsyncAPI for other languages."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bus.schema_export import export
from mtq.runtime import console

app = typer.Typer(no_args_is_help=True, help="Wire schemas for subscribers in any language.")


@app.command("export")
def export_command(
    directory: Annotated[
        Path, typer.Argument(help="Directory to write the schema files into.")
    ] = Path("schemas"),
) -> None:
    """Write a JSON Schema per message type and an AsyncAPI document."""
    written = export(directory)
    console.print(f"wrote {len(written)} schema files to {directory}")
