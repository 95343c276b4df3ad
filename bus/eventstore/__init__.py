"""JetStream persistence module for the `eventsourcing` library.

Select it with `PERSISTENCE_MODULE=bus.eventstore`; settings come from the environment
(see `bus.eventstore.settings.Settings`). Wire format: schemas/README.md.
"""

from __future__ import annotations

from bus.eventstore.factory import JetStreamFactory

Factory = JetStreamFactory

__all__ = ["Factory", "JetStreamFactory"]
