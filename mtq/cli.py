"""The `mtq` command line: one typer app, each area's commands in `mtq/commands/`."""

from __future__ import annotations

import typer

from mtq import runtime
from mtq.commands import (
    agent_cmd,
    api_cmd,
    audit_cmd,
    config_cmd,
    control_cmd,
    engine_cmd,
    export_cmd,
    nats_cmd,
    nats_tools_cmd,
    news_cmd,
    projector_cmd,
    reload_cmd,
    replay_cmd,
    report_cmd,
    risk_cmd,
    schema_cmd,
    status_cmd,
    supervisor_cmd,
    tail_cmd,
    up_cmd,
)

app = typer.Typer(
    name="mtq",
    help="Event-sourced risk control and reconciliation for MetaTrader 5 accounts on NATS.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

up_cmd.register(app)
nats_tools_cmd.register(nats_cmd.app)
app.add_typer(nats_cmd.app, name="nats")
app.add_typer(schema_cmd.app, name="schema")
app.add_typer(config_cmd.app, name="config")
app.add_typer(agent_cmd.app, name="agent")
app.add_typer(supervisor_cmd.app, name="supervisor")
app.add_typer(engine_cmd.app, name="engine")
app.add_typer(risk_cmd.app, name="risk")
app.add_typer(control_cmd.app, name="control")
app.add_typer(audit_cmd.app, name="audit")
app.add_typer(projector_cmd.app, name="projector")
app.add_typer(api_cmd.app, name="api")
app.add_typer(news_cmd.app, name="news")
status_cmd.register(app)
tail_cmd.register(app)
replay_cmd.register(app)
report_cmd.register(app)
export_cmd.register(app)
reload_cmd.register(app)


def main(args: list[str] | None = None) -> None:
    """Run `mtq`; a usage error is one line on stderr (exit 2), Ctrl-C exits 130 quietly."""
    try:
        command = typer.main.get_command(app)
        result = command.main(args=args, prog_name="mtq", standalone_mode=False)
    except typer.TyperException as exc:  # typer's click errors: usage, bad parameter, file
        if not exc.format_message().strip():  # a bare group: typer has printed its help
            raise SystemExit(runtime.EXIT_USAGE) from None
        runtime.fail(error_line(exc), getattr(exc, "exit_code", runtime.EXIT_USAGE))
    except (typer.Abort, KeyboardInterrupt):
        raise SystemExit(130) from None
    if isinstance(result, int) and result:
        raise SystemExit(result)


def error_line(exc: typer.TyperException) -> str:
    """`No such option: --bogus (see `mtq status --help`)`: one line, whatever the message."""
    message = " ".join(exc.format_message().split())
    ctx = getattr(exc, "ctx", None)
    if ctx is None:
        return message
    return f"{message} (see `{ctx.command_path} --help`)"


if __name__ == "__main__":
    main()
