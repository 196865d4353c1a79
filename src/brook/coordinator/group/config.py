"""The group coordinator's settings, parsed once from the broker's properties.

Key names are Kafka's and defaults are Kafka's, so a ``server.properties`` written for Kafka
means the same here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

OFFSETS_TOPIC = "__consumer_offsets"

GROUP_CONFIG_DEFAULTS: dict[str, int] = {
    "offsets.topic.num.partitions": 50,
    "offsets.topic.replication.factor": 3,
    "offsets.topic.segment.bytes": 104857600,
    "group.initial.rebalance.delay.ms": 3000,
    "group.min.session.timeout.ms": 6000,
    "group.max.session.timeout.ms": 1800000,
    "group.max.size": 2147483647,
    "offset.metadata.max.bytes": 4096,
    "offsets.retention.minutes": 10080,
    "offsets.retention.check.interval.ms": 600000,
}


class GroupConfigError(ValueError):
    """A group coordinator setting that is not a valid integer."""


@dataclass(frozen=True, slots=True)
class GroupCoordinatorConfig:
    offsets_topic_num_partitions: int = 50
    offsets_topic_replication_factor: int = 3
    offsets_topic_segment_bytes: int = 104857600
    initial_rebalance_delay_ms: int = 3000
    min_session_timeout_ms: int = 6000
    max_session_timeout_ms: int = 1800000
    max_group_size: int = 2147483647
    offset_metadata_max_bytes: int = 4096
    offsets_retention_ms: int = 10080 * 60_000
    offsets_retention_check_interval_ms: int = 600000

    @classmethod
    def from_props(cls, props: Mapping[str, str]) -> GroupCoordinatorConfig:
        def get(key: str) -> int:
            raw = props.get(key)
            if raw is None or raw.strip() == "":
                return GROUP_CONFIG_DEFAULTS[key]
            try:
                return int(raw)
            except ValueError:
                raise GroupConfigError(f"{key} must be an integer, got {raw!r}") from None

        partitions = get("offsets.topic.num.partitions")
        if partitions < 1:
            raise GroupConfigError("offsets.topic.num.partitions must be at least 1")
        return cls(
            offsets_topic_num_partitions=partitions,
            offsets_topic_replication_factor=max(get("offsets.topic.replication.factor"), 1),
            offsets_topic_segment_bytes=get("offsets.topic.segment.bytes"),
            initial_rebalance_delay_ms=max(get("group.initial.rebalance.delay.ms"), 0),
            min_session_timeout_ms=get("group.min.session.timeout.ms"),
            max_session_timeout_ms=get("group.max.session.timeout.ms"),
            max_group_size=get("group.max.size"),
            offset_metadata_max_bytes=get("offset.metadata.max.bytes"),
            offsets_retention_ms=get("offsets.retention.minutes") * 60_000,
            offsets_retention_check_interval_ms=get("offsets.retention.check.interval.ms"),
        )
