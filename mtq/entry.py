"""The `mtq` executable: Ctrl-C while the CLI's modules still load exits 130, no traceback."""

from __future__ import annotations


def main() -> None:
    try:
        from mtq.cli import main as cli_main  # noqa: PLC0415 - the point: catch Ctrl-C in the imports
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    cli_main()
