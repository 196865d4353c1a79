"""AlterPartition on the controller: a partition leader asks to change its ISR.

Only the leader knows which followers keep up, so it proposes the ISR; only the controller
may commit it, so the metadata log stays the one truth about who may be elected. The checks
are Kafka's ``ReplicationControlManager.alterPartition``, in its order:

- the requesting broker's epoch must be its registered one (else the whole request is
  STALE_BROKER_EPOCH: a restarted broker's old incarnation must not alter anything);
- a leader or partition epoch *newer* than the image means this controller is behind
  (NOT_CONTROLLER: the leader looks for the current one); an older leader epoch is
  FENCED_LEADER_EPOCH; a requester that is not the leader is INVALID_REQUEST; an older
  partition epoch is INVALID_UPDATE_VERSION (the leader acts on a stale ISR);
- the new ISR is a duplicate-free subset of the replicas that includes the leader
  (INVALID_REQUEST), and every member is registered, unfenced and, where the request names
  one, at the broker epoch the follower fetched with (INELIGIBLE_REPLICA): a replica that
  restarted and lost its unflushed tail must not rejoin on its old incarnation's progress.

An accepted change is one PartitionChangeRecord carrying the new ISR (replaying it bumps the
partition epoch, not the leader epoch); the answer carries the partition as it will be.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from brook.metadata.image import MetadataImage, PartitionRegistration
from brook.protocol.errors import ErrorCode
from brook.protocol.metadata_records.partition_change_record import PartitionChangeRecord

NO_BROKER_EPOCH = -1


@dataclass(frozen=True, slots=True)
class IsrChange:
    """One partition's proposed ISR: members with the broker epoch each fetched with (-1:
    unchecked), against the leader and partition epochs the leader holds."""

    topic_id: bytes
    partition: int
    leader_epoch: int
    partition_epoch: int
    new_isr: tuple[tuple[int, int], ...]


@dataclass(frozen=True, slots=True)
class IsrChangeResult:
    """The controller's answer for one partition: an error, or the partition's state now."""

    topic_id: bytes
    partition: int
    error: ErrorCode
    leader: int = -1
    leader_epoch: int = -1
    isr: tuple[int, ...] = ()
    partition_epoch: int = -1


def check_broker_epoch(image: MetadataImage, broker_id: int, broker_epoch: int) -> ErrorCode:
    """The requester must be registered at the epoch it claims — always: a request that
    names no epoch (-1) would let anyone who can reach the controller speak for a leader."""
    registration = image.cluster.brokers.get(broker_id)
    if registration is None:
        return ErrorCode.STALE_BROKER_EPOCH
    if broker_epoch != registration.broker_epoch:
        return ErrorCode.STALE_BROKER_EPOCH
    return ErrorCode.NONE


def _validate(
    image: MetadataImage, broker_id: int, part: PartitionRegistration, change: IsrChange
) -> ErrorCode:
    if change.leader_epoch > part.leader_epoch or change.partition_epoch > part.partition_epoch:
        return ErrorCode.NOT_CONTROLLER
    if change.leader_epoch < part.leader_epoch:
        return ErrorCode.FENCED_LEADER_EPOCH
    if broker_id != part.leader:
        return ErrorCode.INVALID_REQUEST
    if change.partition_epoch < part.partition_epoch:
        return ErrorCode.INVALID_UPDATE_VERSION
    members = [b for b, _ in change.new_isr]
    if len(set(members)) != len(members) or not set(members) <= set(part.replicas):
        return ErrorCode.INVALID_REQUEST
    if part.leader not in members:
        return ErrorCode.INVALID_REQUEST
    brokers = image.cluster.brokers
    for member, epoch in change.new_isr:
        registration = brokers.get(member)
        if registration is None or registration.fenced:
            return ErrorCode.INELIGIBLE_REPLICA
        if epoch != NO_BROKER_EPOCH and epoch != registration.broker_epoch:
            return ErrorCode.INELIGIBLE_REPLICA
    return ErrorCode.NONE


def plan_alter_partition(
    image: MetadataImage, broker_id: int, changes: Sequence[IsrChange]
) -> tuple[list[IsrChangeResult], list[Any]]:
    """Validate each change against ``image``; return the answers and the records to commit.

    A partition named twice in one request is refused the second time (INVALID_REQUEST): each
    change is checked against the image before any of the request's records."""
    results: list[IsrChangeResult] = []
    records: list[Any] = []
    seen: set[tuple[bytes, int]] = set()
    for change in changes:
        key = (change.topic_id, change.partition)
        topic = image.topics.by_id.get(change.topic_id)
        if topic is None:
            results.append(IsrChangeResult(change.topic_id, change.partition,
                                           ErrorCode.UNKNOWN_TOPIC_ID))
            continue
        part = topic.partitions.get(change.partition)
        if part is None:
            results.append(IsrChangeResult(change.topic_id, change.partition,
                                           ErrorCode.UNKNOWN_TOPIC_OR_PARTITION))
            continue
        error = ErrorCode.INVALID_REQUEST if key in seen else _validate(
            image, broker_id, part, change)
        seen.add(key)
        if error != ErrorCode.NONE:
            results.append(IsrChangeResult(change.topic_id, change.partition, error))
            continue
        new_isr = tuple(b for b, _ in change.new_isr)
        partition_epoch = part.partition_epoch
        if new_isr != part.isr:
            records.append(PartitionChangeRecord(
                partition_id=change.partition, topic_id=change.topic_id, isr=list(new_isr)))
            partition_epoch += 1
        results.append(IsrChangeResult(
            change.topic_id, change.partition, ErrorCode.NONE, part.leader, part.leader_epoch,
            new_isr, partition_epoch))
    return results, records
