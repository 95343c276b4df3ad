"""Create or update mtq's streams, KV bucket and DLQ idempotently (docs/architecture.md §2)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Final

from nats.js import api
from nats.js.client import JetStreamContext
from nats.js.errors import BucketNotFoundError, NotFoundError

from bus import subjects

log = logging.getLogger(__name__)

DAY: Final = 24 * 3600.0

# Fields that cannot change on an existing stream without losing or stealing data.
_IMMUTABLE: Final = (
    "retention",
    "storage",
    "subjects",
    "allow_atomic",
    "deny_delete",
    "deny_purge",
)
# Streams of data a terminal can give again: recreated (emptied) when an immutable field
# changes, e.g. MT5_TICKS moving from file to memory storage.
_REPLACEABLE: Final = frozenset({subjects.STREAM_TICKS})
# Fields mtq owns and brings up to date in place.
_MUTABLE: Final = ("description", "max_age", "duplicate_window", "num_replicas", "allow_direct")


class TopologyConflict(RuntimeError):
    """An existing stream's config conflicts with mtq's; it was left untouched."""


@dataclass(frozen=True)
class TopologySettings:
    ticks_max_age_s: float = DAY
    dlq_max_age_s: float = 30 * DAY
    duplicate_window_s: float = 120.0
    # An agent may die between publishing a fact and clearing it from its outbox, and be
    # restarted after a backoff of up to an hour: its replay must still be deduplicated.
    facts_duplicate_window_s: float = 3600.0
    replicas: int = 1


@dataclass
class TopologyReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    recreated: list[str] = field(default_factory=list)
    """Replaceable streams (market data) deleted and created again with mtq's config."""

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.recreated)


def stream_configs(settings: TopologySettings | None = None) -> list[api.StreamConfig]:
    """The stream definitions mtq needs."""
    s = settings or TopologySettings()
    common: dict[str, Any] = {
        "storage": api.StorageType.FILE,
        "num_replicas": s.replicas,
        "duplicate_window": s.duplicate_window_s,
    }
    return [
        # Ticks are market data the terminal can give again (copy_ticks_from): memory storage,
        # no fsync per tick. A server crash loses the ticks it held; facts are in MT5 (file).
        api.StreamConfig(
            name=subjects.STREAM_TICKS,
            description="mtq market data from agents",
            subjects=list(subjects.TICKS_SUBJECTS),
            retention=api.RetentionPolicy.LIMITS,
            max_age=s.ticks_max_age_s,
            allow_direct=True,  # the risk engine reads a symbol's last tick at pre-trade
            **{**common, "storage": api.StorageType.MEMORY},
        ),
        api.StreamConfig(
            name=subjects.STREAM_FACTS,
            description="mtq facts from agents and the supervisor",
            subjects=list(subjects.FACTS_SUBJECTS),
            retention=api.RetentionPolicy.LIMITS,
            **{**common, "duplicate_window": s.facts_duplicate_window_s},
        ),
        api.StreamConfig(
            name=subjects.STREAM_RISK,
            description="mtq risk decisions (eventsourcing event store)",
            subjects=list(subjects.RISK_SUBJECTS),
            retention=api.RetentionPolicy.LIMITS,
            deny_delete=True,
            deny_purge=True,
            allow_atomic=True,
            allow_direct=True,
            **common,
        ),
        api.StreamConfig(
            name=subjects.STREAM_CMD,
            description="mtq commands to agents",
            subjects=list(subjects.CMD_SUBJECTS),
            retention=api.RetentionPolicy.WORK_QUEUE,
            **common,
        ),
        api.StreamConfig(
            name=subjects.STREAM_DLQ,
            description="mtq messages that could not be decoded or handled",
            subjects=list(subjects.DLQ_SUBJECTS),
            retention=api.RetentionPolicy.LIMITS,
            max_age=s.dlq_max_age_s,
            **common,
        ),
    ]


def _norm(name: str, value: Any) -> Any:
    if name == "subjects":
        return sorted(value or [])
    if isinstance(value, float | int) and not isinstance(value, bool):
        return round(float(value), 3)
    if name in ("allow_atomic", "deny_delete", "deny_purge", "allow_direct"):
        return bool(value)
    return value


def _diff(
    existing: api.StreamConfig, wanted: api.StreamConfig, names: tuple[str, ...]
) -> list[str]:
    diffs = []
    for name in names:
        have, want = getattr(existing, name), getattr(wanted, name)
        if name == "max_age":
            have, want = have or 0, want or 0
        if _norm(name, have) != _norm(name, want):
            diffs.append(f"{name}: existing {have!r}, mtq needs {want!r}")
    return diffs


async def _ensure_stream(
    js: JetStreamContext, wanted: api.StreamConfig, report: TopologyReport
) -> None:
    assert wanted.name is not None
    try:
        info = await js.stream_info(wanted.name)
    except NotFoundError:
        await js.add_stream(wanted)
        report.created.append(wanted.name)
        return
    conflicts = _diff(info.config, wanted, _IMMUTABLE)
    if conflicts and wanted.name in _REPLACEABLE:
        log.warning("stream %s recreated (%s): it holds only market data",
                    wanted.name, "; ".join(conflicts))  # fmt: skip
        await js.delete_stream(wanted.name)
        await js.add_stream(wanted)
        report.recreated.append(wanted.name)
        return
    if conflicts:
        raise TopologyConflict(
            f"stream {wanted.name} exists with a conflicting config ("
            + "; ".join(conflicts)
            + "); it was left untouched: delete or migrate it by hand"
        )
    if _diff(info.config, wanted, _MUTABLE):
        merged = info.config.evolve(**{n: getattr(wanted, n) for n in _MUTABLE})
        await js.update_stream(merged)
        report.updated.append(wanted.name)
    else:
        report.unchanged.append(wanted.name)


async def _ensure_status_bucket(
    js: JetStreamContext, settings: TopologySettings, report: TopologyReport
) -> None:
    name = f"KV_{subjects.KV_STATUS}"
    try:
        await js.key_value(subjects.KV_STATUS)
    except BucketNotFoundError:
        await js.create_key_value(
            bucket=subjects.KV_STATUS,
            description="mtq status read model, one key per account",
            history=5,
            replicas=settings.replicas,
            storage=api.StorageType.FILE,
        )
        report.created.append(name)
        return
    report.unchanged.append(name)


async def ensure_topology(
    js: JetStreamContext, settings: TopologySettings | None = None
) -> TopologyReport:
    """Create missing streams and the status bucket; update owned fields; refuse conflicts."""
    s = settings or TopologySettings()
    report = TopologyReport()
    for config in stream_configs(s):
        await _ensure_stream(js, config, report)
    await _ensure_status_bucket(js, s, report)
    return report
