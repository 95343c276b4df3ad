"""The library's recorder test cases against our JetStream recorders and a real server."""

from __future__ import annotations

import eventsourcing.tests.persistence as lib
import pytest
from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    ProcessRecorder,
    TrackingRecorder,
)

from bus.eventstore import wire
from bus.eventstore.recorders import (
    JetStreamAggregateRecorder,
    JetStreamApplicationRecorder,
    JetStreamProcessRecorder,
    JetStreamTrackingRecorder,
)
from tests.conformance.support import FreshStreams

pytestmark = pytest.mark.nats


class TestAggregateRecorder(FreshStreams, lib.AggregateRecorderTestCase):
    def create_recorder(self) -> AggregateRecorder:
        return JetStreamAggregateRecorder(self.new_settings())


class TestSnapshotRecorder(FreshStreams, lib.AggregateRecorderTestCase):
    def create_recorder(self) -> AggregateRecorder:
        return JetStreamAggregateRecorder(self.new_settings(), wire.SNAPSHOTS)


class TestApplicationRecorder(FreshStreams, lib.ApplicationRecorderTestCase):
    def create_recorder(self) -> ApplicationRecorder:
        return JetStreamApplicationRecorder(self.new_settings())

    def test_insert_subscribe(self) -> None:
        self.optional_test_insert_subscribe()


class TestTrackingRecorder(FreshStreams, lib.TrackingRecorderTestCase):
    def create_recorder(self) -> TrackingRecorder:
        return JetStreamTrackingRecorder(self.new_settings())


class TestProcessRecorder(FreshStreams, lib.ProcessRecorderTestCase):
    def create_recorder(self) -> ProcessRecorder:
        return JetStreamProcessRecorder(self.new_settings())


class TestProcessRecorderAsApplicationRecorder(FreshStreams, lib.ApplicationRecorderTestCase):
    """A process recorder is also an application recorder; same cases, same stream kind."""

    def create_recorder(self) -> ApplicationRecorder:
        return JetStreamProcessRecorder(self.new_settings())

    def test_insert_subscribe(self) -> None:
        self.optional_test_insert_subscribe()


class TestNonInterleavingNotificationIDs(FreshStreams, lib.NonInterleavingNotificationIDsBaseCase):
    def create_recorder(self) -> ApplicationRecorder:
        return JetStreamApplicationRecorder(self.new_settings())
