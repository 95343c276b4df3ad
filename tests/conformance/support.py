"""A fresh stream per test, deleted afterwards."""

from __future__ import annotations

import contextlib
import os
import uuid
from typing import Any

from bus.eventstore.runtime import Runtime
from bus.eventstore.settings import Settings
from bus.eventstore.stream import forget_stream


def unique_stream() -> str:
    return f"T{uuid.uuid4().hex[:16].upper()}"


def delete_stream(url: str, stream: str) -> None:
    runtime = Runtime.for_url(url)

    async def delete() -> None:
        js = (await runtime.client()).jetstream()
        with contextlib.suppress(Exception):  # the stream may never have been created
            await js.delete_stream(stream)

    runtime.call(delete, 10.0)
    forget_stream(url, stream)


class FreshStreams:
    """Mixin for TestCase: `new_settings()` gives a stream of the test's own."""

    nats_url: str

    def setUp(self) -> None:
        self._streams: list[str] = []
        super().setUp()  # type: ignore[misc]

    def tearDown(self) -> None:
        super().tearDown()  # type: ignore[misc]
        for stream in self._streams:
            delete_stream(self.nats_url, stream)

    def new_settings(self, name: str = "app") -> Settings:
        stream = unique_stream()
        self._streams.append(stream)
        return Settings(url=self.nats_url, stream=stream, prefix=f"{stream.lower()}.{name}")

    def fresh_env(self) -> dict[str, str]:
        """Environment selecting this module with a stream of the test's own."""
        stream = unique_stream()
        self._streams.append(stream)
        return {
            "PERSISTENCE_MODULE": "bus.eventstore",
            "NATS_URL": self.nats_url,
            "NATS_STREAM": stream,
        }


class FreshStreamsInEnviron(FreshStreams):
    """Also put the fresh-stream settings in os.environ (for tests that read it)."""

    def setUp(self) -> None:
        super().setUp()
        self._saved: dict[str, Any] = {}
        for key, value in self.fresh_env().items():
            self._saved[key] = os.environ.get(key)
            os.environ[key] = value

    def tearDown(self) -> None:
        for key, value in self._saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        super().tearDown()
