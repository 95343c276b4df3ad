"""The library's InfrastructureFactoryTestCase for `PERSISTENCE_MODULE=bus.eventstore`."""

from __future__ import annotations

import eventsourcing.tests.persistence as lib
import pytest
from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    ProcessRecorder,
    TrackingRecorder,
)
from eventsourcing.utils import Environment

from bus.eventstore import JetStreamFactory
from bus.eventstore.recorders import (
    JetStreamAggregateRecorder,
    JetStreamApplicationRecorder,
    JetStreamProcessRecorder,
    JetStreamTrackingRecorder,
)
from bus.eventstore.runtime import Runtime
from tests.conformance.support import FreshStreams


def _stream_names(url: str) -> set[str]:
    runtime = Runtime.for_url(url)

    async def names() -> set[str]:
        js = (await runtime.client()).jetstream()
        return {info.config.name for info in await js.streams_info() if info.config.name}

    found: set[str] = runtime.call(names, 10.0)
    return found


pytestmark = pytest.mark.nats


class CustomTrackingRecorder(JetStreamTrackingRecorder):
    pass


class TestJetStreamFactory(FreshStreams, lib.InfrastructureFactoryTestCase[JetStreamFactory]):
    def setUp(self) -> None:
        self._streams = []
        self.env = Environment("TestCase", self.fresh_env())
        own = list(self._streams)
        super().setUp()  # FreshStreams.setUp starts a new list: keep the env's stream on it
        self._streams[:0] = own

    def tearDown(self) -> None:
        streams = list(self._streams)
        super().tearDown()
        assert streams, "the test's stream was never registered for deletion"
        leftover = [s for s in streams if s in _stream_names(self.nats_url)]
        assert leftover == [], f"streams left on the server: {leftover}"

    def expected_factory_class(self) -> type[JetStreamFactory]:
        return JetStreamFactory

    def expected_aggregate_recorder_class(self) -> type[AggregateRecorder]:
        return JetStreamAggregateRecorder

    def expected_application_recorder_class(self) -> type[ApplicationRecorder]:
        return JetStreamApplicationRecorder

    def expected_tracking_recorder_class(self) -> type[TrackingRecorder]:
        return JetStreamTrackingRecorder

    def tracking_recorder_subclass(self) -> type[TrackingRecorder]:
        return CustomTrackingRecorder

    def expected_process_recorder_class(self) -> type[ProcessRecorder]:
        return JetStreamProcessRecorder
