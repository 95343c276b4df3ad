"""What the commands that serve share: `mtq up`, `mtq nats serve` and `mtq api run`.

The server's security options (--insecure, TLS files), the identities a server mtq starts
is given, the HTTP address option, and how a NATS or HTTP port is chosen.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated

import typer

from bus.connection import write_client_tls
from bus.embedded import DEFAULT_PORT, port_taken
from bus.security.authdir import AuthDir, AuthDirError, default_auth_dir
from bus.security.client import BadTlsFiles, TlsFiles
from mtq.runtime import console, fail
from mtq.system import Identities

InsecureOption = Annotated[
    bool,
    typer.Option(
        "--insecure",
        help="Run NATS open to anyone who can reach it (no identities, no permissions): "
        "quick experiments only.",
    ),
]
TlsCertOption = Annotated[
    Path | None, typer.Option("--tls-cert", help="TLS certificate of the NATS server (PEM).")
]
TlsKeyOption = Annotated[
    Path | None, typer.Option("--tls-key", help="Private key of --tls-cert (PEM).")
]
TlsCaOption = Annotated[
    Path | None,
    typer.Option("--tls-ca", help="CA that signed --tls-cert: what every client trusts (PEM)."),
]
DEFAULT_HTTP = "127.0.0.1:8000"
HttpOption = Annotated[
    str,
    typer.Option("--http", help="HOST:PORT to listen on (reads need a token off loopback)."),
]


def parse_http(text: str) -> tuple[str, int]:
    """`HOST:PORT` (`[::1]:8000` for IPv6); exits 2 with one line when it is not one."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        fail(f"--http must be HOST:PORT (like {DEFAULT_HTTP}), got {text!r}")
    return host, int(port)


def server_tls(cert: Path | None, key: Path | None, ca: Path | None) -> TlsFiles | None:
    """The server's TLS files from the options (None: no TLS); bad files exit 2."""
    if cert is None and key is None and ca is None:
        return None
    tls = TlsFiles(
        ca=str(ca.resolve()) if ca else None,
        cert=str(cert.resolve()) if cert else None,
        key=str(key.resolve()) if key else None,
    )
    try:
        tls.check_server()
        if tls.ca:
            TlsFiles(ca=tls.ca).client_context()
    except BadTlsFiles as exc:
        fail(str(exc))
    return tls


def warn_insecure(url: str) -> None:
    """Say loudly, on stderr, what --insecure means."""
    line = (
        f"WARNING: --insecure: NATS at {url} accepts ANYONE who can reach it, without "
        "credentials or permissions: any process can publish fake facts, send close-all "
        "commands or delete streams. Use it for quick experiments only."
    )
    prefix, end = ("\x1b[1;31m", "\x1b[0m") if sys.stderr.isatty() else ("", "")
    sys.stderr.write(f"{prefix}{line}{end}\n")
    sys.stderr.flush()


def generate_identities(
    directory: AuthDir, account_ids: Iterable[str], strategies: Iterable[str] = ()
) -> AuthDir:
    """Generate (or bring up to date) the identities in `directory`; errors exit 2."""
    try:
        directory.generate(account_ids, strategies)
    except AuthDirError as exc:
        fail(str(exc))
    changed = [
        f"{label} {', '.join(names)}"
        for label, names in (("created", directory.created), ("updated", directory.updated))
        if names
    ]
    if changed:
        console.print(f"identities: {'; '.join(changed)} (in {directory.path})", highlight=False)
    return directory


def secure_identities(
    data: Path,
    account_ids: Iterable[str],
    *,
    insecure: bool,
    tls: TlsFiles | None,
    embedded: bool,
    strategies: Iterable[str] = (),
) -> Identities:
    """The identities of a server mtq starts (generated in `data/auth`) or connects to.

    Against a server mtq does not start, the identities in `data/auth` are used if they
    exist (`mtq nats auth generate --out data/auth`, trusted by that server); else every
    part connects as the environment says (`NATS_CREDS`).
    """
    if insecure:
        return Identities(auth_dir=None, tls=tls)
    directory = default_auth_dir(data)
    if not embedded and not directory.exists():
        return Identities(auth_dir=None, tls=tls)
    return Identities(auth_dir=generate_identities(directory, account_ids, strategies), tls=tls)


def record_client_tls(data: Path, tls: TlsFiles | None) -> Path | None:
    """Tell other `mtq` commands of this data dir which CA to trust."""
    return write_client_tls(data, tls) if tls is not None and tls.ca else None


def admin_command_flags(identities: Identities, data: Path) -> str:
    """The `nats` CLI flags that connect as admin (empty in open mode)."""
    flags = ""
    if identities.auth_dir is not None:
        flags += f" --creds {identities.auth_dir.admin_creds}"
    if identities.tls is not None and identities.tls.ca:
        flags += f" --tlsca {identities.tls.ca}"
    return flags


def serve_port(given: int | None, why_taken: str = "") -> int:
    """The port to serve on. A given one that is taken is an error (one line, exit 2); the
    default, if taken, gives way to a free one (0) and says so."""
    port = DEFAULT_PORT if given is None else given
    if not port or not port_taken(port):
        return port
    if given is not None:
        fail(f"port {port} is taken: pass another --nats-port, or 0 for any free port")
    console.print(
        f"port {port} is taken{why_taken}; the embedded nats-server takes a free port",
        highlight=False,
    )
    return 0


def server_trust(ca: Path | None) -> TlsFiles | None:
    """Against a server mtq does not start, only the CA to trust matters."""
    return TlsFiles(ca=str(ca.resolve())) if ca is not None else None
