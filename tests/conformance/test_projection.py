"""The library's projection test cases with JetStream views and applications."""

from __future__ import annotations

import eventsourcing.tests.projection as lib
import pytest
from eventsourcing.dcb.msgpack import MessagePackMapper
from eventsourcing.tests.projection import EventCountersView
from eventsourcing.utils import get_topic

from tests.conformance.support import FreshStreams
from tests.conformance.views import JetStreamEventCounters

pytestmark = pytest.mark.nats


class TestEventCountersView(FreshStreams, lib.EventCountersViewTestCase):
    def construct_event_counters_view(self) -> EventCountersView:
        return JetStreamEventCounters(self.new_settings("eventcounters"))


class TestAggregateEventCountersProjection(
    FreshStreams, lib.AggregateEventCountersProjectionTestCase
):
    view_class: type[EventCountersView] = JetStreamEventCounters

    def setUp(self) -> None:
        super().setUp()
        self.env = self.fresh_env()  # type: ignore[misc]


class TestTaggedDecisionCountersProjection(
    FreshStreams, lib.TaggedDecisionCountersProjectionTestCase
):
    """The upstream here is a DCB application. Our module has no DCB recorder (the issue asks
    for the four classic recorders), so that application keeps the library's in-memory DCB
    store; the view under test (tracking + counters) is ours, in JetStream."""

    view_class: type[EventCountersView] = JetStreamEventCounters

    def setUp(self) -> None:
        super().setUp()
        self.env = {  # type: ignore[misc]
            **self.fresh_env(),
            "MAPPER_TOPIC": get_topic(MessagePackMapper),
            "DCBAPPLICATION_PERSISTENCE_MODULE": "eventsourcing.dcb.popo",
        }


class TestEventSourcedProjection(FreshStreams, lib.EventSourcedProjectionTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.env = self.fresh_env()  # type: ignore[misc]
