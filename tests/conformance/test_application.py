"""The library's application test cases on the JetStream event store."""

from __future__ import annotations

import eventsourcing.tests.application as lib
import pytest

from tests.conformance.support import FreshStreamsInEnviron

pytestmark = pytest.mark.nats


class TestApplication(FreshStreamsInEnviron, lib.ApplicationTestCase):
    pass


class TestExampleApplication(FreshStreamsInEnviron, lib.ExampleApplicationTestCase):
    expected_factory_topic = "bus.eventstore.factory:JetStreamFactory"
