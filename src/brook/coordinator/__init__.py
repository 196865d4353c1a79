"""Coordinators: state machines that keep their state in a compacted topic.

They emit records and replay records, and reach the log only through the ``PartitionWriter``
and ``CoordinatorLoader`` Protocols of ``brook.coordinator.runtime``, which the broker
implements; they never import storage or replication.
"""

from brook.coordinator.runtime import (
    CoordinatorLoader,
    CoordinatorLoadError,
    CoordinatorRecord,
    CoordinatorResult,
    CoordinatorTimer,
    CoordinatorWriteError,
    EventLoopTimer,
    PartitionWriter,
)

__all__ = [
    "CoordinatorLoadError",
    "CoordinatorLoader",
    "CoordinatorRecord",
    "CoordinatorResult",
    "CoordinatorTimer",
    "CoordinatorWriteError",
    "EventLoopTimer",
    "PartitionWriter",
]
