"""The group coordinator's settings, parsed once from the broker's properties.

Key names are Kafka's and defaults are Kafka's, so a ``server.properties`` written for Kafka
means the same here. The keys and their defaults are defined once, in ``brook.config.group``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from brook.config.group import GROUP_CONFIGS

OFFSETS_TOPIC = "__consumer_offsets"

GROUP_CONFIG_DEFAULTS: dict[str, int] = {
    name: int(key.default) for name, key in GROUP_CONFIGS.items() if isinstance(key.default, int)
}


def _default(key: str) -> int:
    return GROUP_CONFIG_DEFAULTS[key]


class GroupConfigError(ValueError):
    """A group coordinator setting that is not a valid integer."""


@dataclass(frozen=True, slots=True)
class GroupCoordinatorConfig:
    offsets_topic_num_partitions: int = _default("offsets.topic.num.partitions")
    offsets_topic_replication_factor: int = _default("offsets.topic.replication.factor")
    offsets_topic_segment_bytes: int = _default("offsets.topic.segment.bytes")
    initial_rebalance_delay_ms: int = _default("group.initial.rebalance.delay.ms")
    min_session_timeout_ms: int = _default("group.min.session.timeout.ms")
    max_session_timeout_ms: int = _default("group.max.session.timeout.ms")
    max_group_size: int = _default("group.max.size")
    offset_metadata_max_bytes: int = _default("offset.metadata.max.bytes")
    offsets_retention_ms: int = _default("offsets.retention.minutes") * 60_000
    offsets_retention_check_interval_ms: int = _default("offsets.retention.check.interval.ms")
    offsets_commit_timeout_ms: int = _default("offsets.commit.timeout.ms")

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
            offsets_commit_timeout_ms=max(get("offsets.commit.timeout.ms"), 1),
        )
