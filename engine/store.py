"""The RISK event store: the library's mapper and repository over our JetStream recorders."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Repository
from eventsourcing.persistence import EventStore, Mapper
from eventsourcing.utils import Environment

from bus import subjects
from bus.eventstore.factory import JetStreamFactory
from bus.eventstore.recorders import JetStreamAggregateRecorder, StrictProcessRecorder
from bus.eventstore.transcoder import PlainJSONMapper, PlainJSONTranscoder
from bus.security.client import ClientAuth
from domain import AccountRisk

UPSTREAM: Final = "MT5"
"""Name of the upstream in tracking records: the MT5 facts stream."""
APPLICATION: Final = "RiskEngine"


def plain_mapper() -> Mapper[UUID]:
    """The mapper the store uses, for code that needs event bytes without a server."""
    return PlainJSONMapper(transcoder=PlainJSONTranscoder())


@dataclass
class RiskStore:
    mapper: Mapper[UUID]
    recorder: StrictProcessRecorder
    snapshots: JetStreamAggregateRecorder
    repository: Repository[UUID]

    def tracking(self) -> int:
        """The last MT5 sequence whose decisions are committed (0: none)."""
        return self.recorder.max_tracking_id(UPSTREAM) or 0

    def registered_accounts(self) -> list[str]:
        """Ids of every account with an `AccountRisk` in the store."""
        ids: list[str] = []
        for stored in self.recorder.select_first_events():
            state = self.mapper.to_domain_event(stored)
            account_id = getattr(state, "account_id", None)
            if isinstance(account_id, str):
                ids.append(account_id)
        return ids

    def load(self, aggregate_id: UUID) -> AccountRisk | None:
        try:
            account: object = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None
        assert isinstance(account, AccountRisk)
        return account

    def snapshot_event(self, account: AccountRisk) -> Any:
        """A stored snapshot of `account` as it is now (serialised at once)."""
        return self.mapper.to_stored_event(AccountRisk.Snapshot.take(account))


def _auth_env(auth: ClientAuth | None) -> dict[str, str]:
    """The event store's settings for connecting as `auth` (see `bus.eventstore.settings`)."""
    if auth is None:
        return {}
    values = {
        "NATS_CREDS": auth.creds_file,
        "NATS_USER": auth.user,
        "NATS_PASSWORD": auth.password,
        "NATS_TLS_CA": auth.tls.ca if auth.tls else None,
        "NATS_TLS_CERT": auth.tls.cert if auth.tls else None,
        "NATS_TLS_KEY": auth.tls.key if auth.tls else None,
    }
    return {k: v for k, v in values.items() if v}


def open_store(
    nats_url: str, *, timeout_s: float = 5.0, auth: ClientAuth | None = None
) -> RiskStore:
    """Open RISK on `nats_url`, every connection as `auth` (the engine's identity)."""
    env = Environment(
        APPLICATION,
        {
            "NATS_URL": nats_url,
            "NATS_STREAM": subjects.STREAM_RISK,
            "NATS_SUBJECT_PREFIX": subjects.RISK_PREFIX,
            "NATS_TIMEOUT": str(timeout_s),
            "NATS_CREATE_STREAM": "no",
            **_auth_env(auth),
        },
    )
    factory = JetStreamFactory(env)
    mapper = plain_mapper()
    recorder = StrictProcessRecorder(factory.settings)
    snapshots = JetStreamAggregateRecorder(factory.settings, "snapshots")
    repository: Repository[UUID] = Repository(
        event_store=EventStore(mapper, recorder),
        snapshot_store=EventStore(mapper, snapshots),
    )
    return RiskStore(mapper, recorder, snapshots, repository)
