"""The classic group coordinator: consumer groups and their committed offsets.

Modules, following Kafka's group-coordinator: ``classic_group`` (a group and its members),
``rebalance`` and ``group_metadata_manager`` (JoinGroup/SyncGroup/Heartbeat/LeaveGroup and the
timers that move a group between generations), ``offset_metadata_manager`` (OffsetCommit,
OffsetFetch, OffsetDelete, retention), ``group_coordinator_shard`` (one ``__consumer_offsets``
partition: replay and its write queue), ``group_coordinator_service`` (routing by group id,
loading, error mapping), ``record_serde`` (the records, in Kafka's format).
"""

from brook.coordinator.group.config import OFFSETS_TOPIC, GroupCoordinatorConfig
from brook.coordinator.group.group_coordinator_service import (
    GroupCoordinatorService,
    partition_for,
)
from brook.coordinator.group.request_meta import RequestMeta

__all__ = [
    "OFFSETS_TOPIC",
    "GroupCoordinatorConfig",
    "GroupCoordinatorService",
    "RequestMeta",
    "partition_for",
]
