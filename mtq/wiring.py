"""Composition root helpers: turn config into the settings of each part."""

from __future__ import annotations

from bus.topology import DAY, TopologySettings
from config import MtqConfig


def topology_settings(config: MtqConfig | None) -> TopologySettings:
    """Stream retention settings from the config's `streams` section."""
    if config is None:
        return TopologySettings()
    streams = config.streams
    return TopologySettings(
        ticks_max_age_s=streams.ticks_max_age_hours * 3600.0,
        dlq_max_age_s=streams.dlq_max_age_days * DAY,
        replicas=streams.replicas,
    )
