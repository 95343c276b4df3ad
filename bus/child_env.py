"""The environment a child process of mtq starts with: what any program needs, no secrets.

mtq's own secrets (`MTQ_API_TOKENS`, webhook and signal secrets, account passwords, NATS
credentials) live in the environment of the process that reads them and nowhere else. A
child gets the basics below plus the few variables its caller names for it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Final

BASIC: Final = frozenset(
    {
        "PATH",
        "HOME",
        "USER",
        "LOGNAME",
        "SHELL",
        "TERM",
        "COLORTERM",
        "NO_COLOR",
        "COLUMNS",
        "LANG",
        "LANGUAGE",
        "TZ",
        "TMPDIR",
        "TEMP",
        "TMP",
        "SYSTEMROOT",  # Windows needs it to start a process at all
        "VIRTUAL_ENV",
        "COVERAGE_PROCESS_START",
    }
)
"""Variables any child may see: terminal, locale, temp dirs, the interpreter's setup."""

BASIC_PREFIXES: Final = ("LC_", "PYTHON")

NATS_CLIENT: Final = (
    "NATS_CREDS",
    "NATS_USER",
    "NATS_PASSWORD",
    "NATS_TLS_CA",
    "NATS_TLS_CERT",
    "NATS_TLS_KEY",
)
"""The connection settings a client reads from its environment (`bus.connection`)."""


def basic(name: str) -> bool:
    return name in BASIC or name.startswith(BASIC_PREFIXES)


def child_environment(
    extra: Mapping[str, str] | None = None,
    *,
    keep: Iterable[str] = (),
    environ: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The basics of `environ` (default: ours), the variables named in `keep`, then `extra`."""
    source = os.environ if environ is None else environ
    wanted = set(keep)
    env = {name: value for name, value in source.items() if basic(name) or name in wanted}
    env.update(extra or {})
    return env
