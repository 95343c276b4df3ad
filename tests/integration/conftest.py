"""Fixtures shared by the integration tests of the risk engine."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from nats.aio.client import Client

from bus.embedded import EmbeddedNatsServer
from bus.topology import ensure_topology
from tests.integration.engine_support import FactFeed, connect_js


@pytest.fixture
async def engine_bus(
    fresh_nats_server: EmbeddedNatsServer,
) -> AsyncIterator[tuple[str, Client, FactFeed]]:
    """A server of the test's own with mtq's streams: its URL, a client and a fact feed."""
    nc, js = await connect_js(fresh_nats_server.url)
    await ensure_topology(js)
    try:
        yield fresh_nats_server.url, nc, FactFeed(js)
    finally:
        await nc.close()
