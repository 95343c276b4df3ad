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
from tests.conformance.support import FreshStreams

pytestmark = pytest.mark.nats


class CustomTrackingRecorder(JetStreamTrackingRecorder):
    pass


class TestJetStreamFactory(FreshStreams, lib.InfrastructureFactoryTestCase[JetStreamFactory]):
    def setUp(self) -> None:
        self._streams = []
        self.env = Environment("TestCase", self.fresh_env())
        super().setUp()

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
