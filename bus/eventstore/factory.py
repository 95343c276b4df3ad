"""The `InfrastructureFactory` of the JetStream persistence module."""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import TAggregateID
from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    InfrastructureFactory,
    Mapper,
    ProcessRecorder,
    Transcoder,
)
from eventsourcing.utils import Environment, EnvType, resolve_topic

from bus.eventstore import wire
from bus.eventstore.recorders import (
    JetStreamAggregateRecorder,
    JetStreamApplicationRecorder,
    JetStreamProcessRecorder,
    JetStreamTrackingRecorder,
)
from bus.eventstore.settings import Settings
from bus.eventstore.transcoder import PlainJSONMapper, PlainJSONTranscoder


class JetStreamFactory(InfrastructureFactory[JetStreamTrackingRecorder]):
    """Builds recorders that keep an application's records in a JetStream stream."""

    def __init__(self, env: Environment | EnvType | None) -> None:
        super().__init__(env)

    @property
    def settings(self) -> Settings:
        # Read on each use: the library's tests change the environment after construction.
        return Settings.from_env(self.env)

    def transcoder(self) -> Transcoder:
        if self.env.get(self.TRANSCODER_TOPIC):
            return super().transcoder()
        return PlainJSONTranscoder()

    def mapper(
        self,
        transcoder: Transcoder | None = None,
        mapper_class: type[Mapper[TAggregateID]] | None = None,
    ) -> Mapper[TAggregateID]:
        if mapper_class is None and not self.env.get(self.MAPPER_TOPIC):
            mapper_class = PlainJSONMapper
        return super().mapper(transcoder=transcoder, mapper_class=mapper_class)

    def aggregate_recorder(self, purpose: str = "events") -> AggregateRecorder:
        kind = wire.SNAPSHOTS if purpose == "snapshots" else wire.EVENTS
        return JetStreamAggregateRecorder(self.settings, kind)

    def application_recorder(self) -> ApplicationRecorder:
        recorder: ApplicationRecorder = self._resolve(
            self.APPLICATION_RECORDER_TOPIC, JetStreamApplicationRecorder
        )
        return recorder

    def tracking_recorder(
        self, tracking_recorder_class: type[JetStreamTrackingRecorder] | None = None
    ) -> JetStreamTrackingRecorder:
        if tracking_recorder_class is None:
            topic = self.env.get(self.TRACKING_RECORDER_TOPIC)
            tracking_recorder_class = resolve_topic(topic) if topic else JetStreamTrackingRecorder
        assert tracking_recorder_class is not None
        if not issubclass(tracking_recorder_class, JetStreamTrackingRecorder):
            raise TypeError(f"{tracking_recorder_class} is not a JetStreamTrackingRecorder")
        return tracking_recorder_class(self.settings)

    def process_recorder(self) -> ProcessRecorder:
        recorder: ProcessRecorder = self._resolve(
            self.PROCESS_RECORDER_TOPIC, JetStreamProcessRecorder
        )
        return recorder

    def _resolve(self, key: str, default: type[Any]) -> Any:
        topic = self.env.get(key)
        cls = resolve_topic(topic) if topic else default
        return cls(self.settings)
