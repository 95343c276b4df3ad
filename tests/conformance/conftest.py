"""Give the library's unittest-style test cases the session's real nats-server."""

from __future__ import annotations

import pytest

from bus.embedded import EmbeddedNatsServer


@pytest.fixture(autouse=True)
def _nats_url_for_test_cases(
    request: pytest.FixtureRequest, nats_server: EmbeddedNatsServer
) -> None:
    if request.cls is not None:
        request.cls.nats_url = nats_server.url
