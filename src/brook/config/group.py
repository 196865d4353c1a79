"""The group coordinator's broker keys (Kafka's ``GroupCoordinatorConfig``).

Key names and defaults are Kafka's, so a ``server.properties`` written for Kafka means the
same here. ``offsets.topic.replication.factor`` defaults to Kafka's 3; the offsets topic is
created with at most as many replicas as there are live brokers.
"""

from __future__ import annotations

from brook.config.defs import INT_MAX, ConfigDef, ConfigKey, ConfigType, Importance, at_least

__all__ = ["GROUP_CONFIGS", "GROUP_CONSUMER"]

GROUP_CONSUMER = "brook.coordinator.group.config"

_INT, _HIGH, _MEDIUM = ConfigType.INT, Importance.HIGH, Importance.MEDIUM


def _key(name: str, default: int, importance: Importance, doc: str, minimum: int | None = None,
         config_type: ConfigType = _INT) -> ConfigKey:
    return ConfigKey(
        name, config_type, default, doc,
        at_least(minimum) if minimum is not None else None,
        f"[{minimum},...]" if minimum is not None else "",
        importance, consumers=(GROUP_CONSUMER,),
    )  # fmt: skip


GROUP_CONFIGS = ConfigDef([
    _key("offsets.topic.num.partitions", 50, _HIGH, "Partitions of the offsets topic (fixed once it exists).", 1),
    _key("offsets.topic.replication.factor", 3, _HIGH, "Replication factor of the offsets topic, capped at the live brokers when it is created; below 1 counts as 1.", None, ConfigType.SHORT),
    _key("offsets.topic.segment.bytes", 104_857_600, _HIGH, "Segment size of the offsets topic, kept small for fast compaction and loading."),
    _key("group.initial.rebalance.delay.ms", 3000, _MEDIUM, "How long the first rebalance of an empty group waits for more members; below 0 counts as 0."),
    _key("group.min.session.timeout.ms", 6000, _MEDIUM, "Shortest session timeout a member may ask for."),
    _key("group.max.session.timeout.ms", 1_800_000, _MEDIUM, "Longest session timeout a member may ask for."),
    _key("group.max.size", INT_MAX, _MEDIUM, "Most members one group may have."),
    _key("offset.metadata.max.bytes", 4096, _HIGH, "Largest metadata string a committed offset may carry."),
    _key("offsets.retention.minutes", 10080, _HIGH, "How long the offsets of an empty group are kept."),
    _key("offsets.retention.check.interval.ms", 600_000, _HIGH, "How often expired offsets are looked for."),
    _key("offsets.commit.timeout.ms", 5000, _HIGH, "How long a write to the offsets topic waits for every in-sync replica before it fails with REQUEST_TIMED_OUT.", 1),
])  # fmt: skip
