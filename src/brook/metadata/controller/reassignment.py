"""Partition reassignment (KIP-455 as Kafka's KRaft controller runs it).

AlterPartitionReassignments names a partition's *target* replicas. The controller records the
move in the partition itself: ``replicas`` becomes target + the replicas being removed,
``adding_replicas`` the targets not yet replicas, ``removing_replicas`` the replicas not in the
target. The new replicas start following the leader like any replica; the leader adds them to
the ISR through AlterPartition once they have caught up. When every target replica is in the
ISR the reassignment completes: ``replicas`` becomes the target, the removed replicas leave
the ISR, and if the leader was one of them a new one is elected from the ISR. Cancelling
(a null target) reverts to the original replicas and drops the added ones from the ISR.

Pure functions of the image, like ``partition_change``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from brook.metadata.controller.partition_change import (
    NO_LEADER,
    Election,
    ElectionResult,
    acceptable_leaders,
    elect,
)
from brook.metadata.image import MetadataImage, PartitionRegistration
from brook.protocol.errors import ErrorCode
from brook.protocol.metadata_records.partition_change_record import PartitionChangeRecord

__all__ = [
    "OngoingReassignment",
    "list_reassignments",
    "plan_alter_reassignments",
    "plan_complete_reassignments",
]

_NO_CHANGE = -2


@dataclass(frozen=True, slots=True)
class OngoingReassignment:
    topic: str
    partition: int
    replicas: tuple[int, ...]
    adding: tuple[int, ...]
    removing: tuple[int, ...]


def _ongoing(part: PartitionRegistration) -> bool:
    return bool(part.adding_replicas or part.removing_replicas)


def _original(part: PartitionRegistration) -> list[int]:
    return [r for r in part.replicas if r not in part.adding_replicas]


def _target(part: PartitionRegistration) -> list[int]:
    return [r for r in part.replicas if r not in part.removing_replicas]


def _check_target(image: MetadataImage, target: Sequence[int]) -> str | None:
    if not target:
        return "The replica list is empty."
    if len(set(target)) != len(target):
        return f"The replica list {list(target)} names a broker twice."
    for broker in target:
        if broker not in image.cluster.brokers:
            return (f"The manual partition assignment includes broker {broker}, but no such "
                    "broker is registered.")
    return None


def _record(topic_id: bytes, index: int, part: PartitionRegistration, replicas: list[int],
            isr: list[int], leader: int, adding: list[int],
            removing: list[int]) -> PartitionChangeRecord:
    return PartitionChangeRecord(
        partition_id=index, topic_id=topic_id,
        replicas=replicas if tuple(replicas) != part.replicas else None,
        isr=isr if tuple(isr) != part.isr else None,
        leader=leader if leader != part.leader else _NO_CHANGE,
        adding_replicas=adding, removing_replicas=removing,
    )


def _with_leader(part: PartitionRegistration, replicas: list[int], isr: list[int],
                 acceptable: Collection[int]) -> tuple[int, list[int]]:
    """Keep an acceptable leader that stays a replica; else elect from the ISR."""
    if part.leader in replicas and part.leader in isr and part.leader in acceptable:
        return part.leader, isr
    moved = PartitionRegistration(tuple(replicas), tuple(isr), NO_LEADER, part.leader_epoch,
                                  part.partition_epoch)
    return elect(moved, isr, acceptable, Election.ONLINE, False)


def _move(name: str, topic_id: bytes, index: int, part: PartitionRegistration, replicas: list[int],
          adding: list[int], removing: list[int], acceptable: Collection[int],
          ) -> PartitionChangeRecord | ElectionResult:
    """The record that makes ``replicas`` the partition's replicas (a new target, or the
    original ones when a move is cancelled or changed midway): the ISR keeps only brokers
    that stay replicas — an added replica that joined it and is dropped again must leave it,
    or acks=all would wait for a broker that no longer follows — and the leader is kept or
    re-elected from it. A move that would leave no in-sync replica is refused: the only
    copies of the committed records are on brokers it drops (Kafka reverts uncleanly here;
    brook does not lose acknowledged records for an admin request)."""
    isr = [r for r in part.isr if r in replicas]
    if not isr:
        return ElectionResult(name, index, ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                              f"Every in-sync replica of partition {index} ({list(part.isr)}) "
                              f"would leave it; wait until one of {replicas} has caught up.")
    leader, isr = _with_leader(part, replicas, isr, acceptable)
    return _record(topic_id, index, part, replicas, isr, leader, adding, removing)


def plan_alter_reassignments(
    image: MetadataImage, requests: Sequence[tuple[str, int, Sequence[int] | None]],
    shutting_down: Collection[int] = (),
) -> tuple[list[ElectionResult], list[PartitionChangeRecord]]:
    """Start, change or cancel (target None) reassignments; a result per partition."""
    acceptable = acceptable_leaders(image, shutting_down)
    results: list[ElectionResult] = []
    records: list[PartitionChangeRecord] = []
    for name, index, target in requests:
        topic = image.topics.by_name.get(name)
        part = topic.partitions.get(index) if topic is not None else None
        if topic is None or part is None:
            results.append(ElectionResult(name, index, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                                          ErrorCode.UNKNOWN_TOPIC_OR_PARTITION.message))
            continue
        if target is None:
            if not _ongoing(part):
                results.append(ElectionResult(name, index, ErrorCode.NO_REASSIGNMENT_IN_PROGRESS,
                                              ErrorCode.NO_REASSIGNMENT_IN_PROGRESS.message))
                continue
            replicas = _original(part)
            moved = _move(name, topic.topic_id, index, part, replicas, [], [], acceptable)
            if isinstance(moved, ElectionResult):
                results.append(moved)
                continue
            records.append(moved)
            results.append(ElectionResult(name, index, ErrorCode.NONE, None))
            continue
        problem = _check_target(image, target)
        if problem is not None:
            results.append(ElectionResult(name, index, ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                                          problem))
            continue
        original = _original(part)
        adding = [r for r in target if r not in original]
        removing = [r for r in original if r not in target]
        replicas = [*target, *removing]
        moved = _move(name, topic.topic_id, index, part, replicas, adding, removing, acceptable)
        if isinstance(moved, ElectionResult):
            results.append(moved)
            continue
        records.append(moved)
        results.append(ElectionResult(name, index, ErrorCode.NONE, None))
    return results, records


def plan_complete_reassignments(image: MetadataImage, shutting_down: Collection[int] = (),
                                ) -> list[PartitionChangeRecord]:
    """Complete every reassignment whose target replicas are all in the ISR."""
    acceptable = acceptable_leaders(image, shutting_down)
    records = []
    for topic in image.topics.by_id.values():
        for index, part in topic.partitions.items():
            if not _ongoing(part):
                continue
            target = _target(part)
            if not all(r in part.isr for r in target):
                continue
            isr = [r for r in part.isr if r in target]
            leader, isr = _with_leader(part, target, isr, acceptable)
            records.append(_record(topic.topic_id, index, part, target, isr, leader, [], []))
    return records


def list_reassignments(image: MetadataImage, targets: Sequence[tuple[str, int]] | None,
                       ) -> list[OngoingReassignment]:
    """Ongoing reassignments: all of them, or those among ``targets`` (unknown ones skipped,
    as Kafka does)."""
    if targets is None:
        pairs = [(t.name, i) for t in image.topics.by_id.values() for i in sorted(t.partitions)]
    else:
        pairs = list(targets)
    out = []
    for name, index in pairs:
        topic = image.topics.by_name.get(name)
        part = topic.partitions.get(index) if topic is not None else None
        if part is not None and _ongoing(part):
            out.append(OngoingReassignment(name, index, part.replicas, part.adding_replicas,
                                           part.removing_replicas))
    return out
