"""Topic and partition changes: validation, replica placement, and the records they emit.

Pure functions of the current image: they return records (or an error) and never write.
Placement stripes replicas across racks (availability zones) so that consecutive replicas of a
partition sit in different racks whenever there are enough racks (Kafka's StripedReplicaPlacer
idea, simplified), and rotates the first replica so leaders spread over brokers.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from brook.metadata.controller.topic_names import (
    CLUSTER_METADATA_TOPIC,
    INTERNAL_TOPICS,
    unify_collision_chars,
    validate_topic_name,
)
from brook.metadata.image import MetadataImage
from brook.protocol.errors import ErrorCode
from brook.protocol.metadata_records.config_record import ConfigRecord
from brook.protocol.metadata_records.partition_record import PartitionRecord
from brook.protocol.metadata_records.remove_topic_record import RemoveTopicRecord
from brook.protocol.metadata_records.topic_record import TopicRecord
from brook.storage.errors import InvalidConfigError
from brook.storage.log_config import validate_topic_configs

RESOURCE_TOPIC = 2
MAX_RECORDS_PER_USER_OP = 10_000
"""Kafka's controller bound on the records one request may create: a request for a million
partitions is refused up front instead of building megabytes of records."""


class ControllerError(Exception):
    """An operation refused with a Kafka error code and a message for the client."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(slots=True)
class TopicSpec:
    """What a CreateTopics entry (or an auto-create) asks for."""

    name: str
    num_partitions: int = -1
    replication_factor: int = -1
    assignments: dict[int, list[int]] = field(default_factory=dict)
    configs: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class CreatedTopic:
    name: str
    topic_id: bytes
    num_partitions: int
    replication_factor: int
    records: list[Any]


def _rack_striped_brokers(image: MetadataImage) -> list[int]:
    """Unfenced brokers ordered so that neighbours alternate racks."""
    by_rack: dict[str, list[int]] = {}
    for broker in sorted(image.cluster.brokers.values(), key=lambda b: b.broker_id):
        if not broker.fenced:
            by_rack.setdefault(broker.rack or "", []).append(broker.broker_id)
    order: list[int] = []
    racks = sorted(by_rack)
    while any(by_rack.values()):
        for rack in racks:
            if by_rack[rack]:
                order.append(by_rack[rack].pop(0))
    return order


def place_replicas(
    image: MetadataImage, num_partitions: int, replication_factor: int, start: int
) -> list[list[int]]:
    """Kafka's rack-aware assignment: leaders go round the rack-alternating broker list; each
    partition's followers are taken in Kafka's shifted order after its leader, brokers of racks
    the partition does not use yet first, so replicas spread over every rack before any rack
    holds two. The shift grows by one each full round of leaders, spreading followers too."""
    brokers = _rack_striped_brokers(image)
    n = len(brokers)
    if replication_factor > n:
        raise ControllerError(
            ErrorCode.INVALID_REPLICATION_FACTOR,
            f"Unable to replicate the partition {replication_factor} time(s): The target "
            f"replication factor of {replication_factor} cannot be reached because only {n} "
            "broker(s) are registered.",
        )
    rack = {b.broker_id: b.rack or "" for b in image.cluster.brokers.values()}
    assignment = []
    for p in range(num_partitions):
        first = (start + p) % n
        shift = ((start + p) // n) % max(n - 1, 1)
        others = [brokers[(first + 1 + (shift + j) % max(n - 1, 1)) % n] for j in range(n - 1)]
        replicas = [brokers[first]]
        used = {rack[brokers[first]]}
        for candidate in others:
            if len(replicas) == replication_factor:
                break
            if rack[candidate] not in used:
                replicas.append(candidate)
                used.add(rack[candidate])
        for candidate in others:
            if len(replicas) == replication_factor:
                break
            if candidate not in replicas:
                replicas.append(candidate)
        assignment.append(replicas)
    return assignment


EXCESSIVE_BATCH_MESSAGE = "Unable to perform excessively large batch operation."


def excessive_batch(detail: str) -> ControllerError:
    """Kafka's answer when one request would emit more than ``MAX_RECORDS_PER_USER_OP``
    records (its BoundedList overflow becomes a PolicyViolationException)."""
    return ControllerError(ErrorCode.POLICY_VIOLATION, f"{EXCESSIVE_BATCH_MESSAGE} {detail}")


def collision_index(names: Collection[str]) -> dict[str, str]:
    """Unified name -> topic name, so a new topic's collision check is one lookup instead of
    a scan of every topic (which made creating N topics cost O(N * topics))."""
    return {unify_collision_chars(n): n for n in names}


def total_partitions(image: MetadataImage) -> int:
    return sum(len(t.partitions) for t in image.topics.by_id.values())


def check_record_budget(new_partitions: int) -> None:
    if new_partitions > MAX_RECORDS_PER_USER_OP:
        raise excessive_batch(
            f"{new_partitions} partitions requested, at most {MAX_RECORDS_PER_USER_OP} per request."
        )


MAX_CONFIG_VALUE_BYTES = 1024 * 1024
"""The largest topic config value accepted (Kafka has no explicit bound; its metadata log's
8 MiB batches are one). The longest legitimate values are throttled-replica lists, about 11
bytes per partition being moved; a megabyte covers ~90,000 of them."""
_MAX_MESSAGE_CHARS = 512


def clip_for_message(text: str) -> str:
    """Error messages echo names and values; a client's huge value is not echoed whole."""
    if len(text) <= _MAX_MESSAGE_CHARS:
        return text
    return f"{text[:_MAX_MESSAGE_CHARS]}... ({len(text)} characters)"


def check_configs(configs: Mapping[str, str]) -> None:
    if not configs:
        return
    for name, value in configs.items():
        size = len(value) if len(value) * 4 <= MAX_CONFIG_VALUE_BYTES else len(value.encode())
        if size > MAX_CONFIG_VALUE_BYTES:
            raise ControllerError(
                ErrorCode.INVALID_CONFIG,
                f"Invalid value for configuration {clip_for_message(name)}: {size} bytes, at most "
                f"{MAX_CONFIG_VALUE_BYTES} bytes are accepted.",
            )
    try:
        validate_topic_configs(configs)
    except InvalidConfigError as exc:
        raise ControllerError(ErrorCode.INVALID_CONFIG, clip_for_message(str(exc))) from None


def plan_create_topic(
    image: MetadataImage,
    spec: TopicSpec,
    topic_id: bytes,
    default_partitions: int,
    default_replication_factor: int,
    pending_names: Collection[str] = (),
    collisions: Mapping[str, str] | None = None,
    placement_start: int | None = None,
) -> CreatedTopic:
    """Validate one topic creation and return the records that create it.

    ``collisions`` (from ``collision_index``, covering the image and ``pending_names``) and
    ``placement_start`` (from ``total_partitions``) let a caller creating many topics compute
    them once; without them they are derived from the image here."""
    reason = validate_topic_name(spec.name)
    if reason is not None:
        raise ControllerError(ErrorCode.INVALID_TOPIC_EXCEPTION, reason)
    if spec.name == CLUSTER_METADATA_TOPIC:
        # Kafka's controller drops this name from a CreateTopics and answers as if denied.
        raise ControllerError(ErrorCode.TOPIC_AUTHORIZATION_FAILED, "Authorization failed.")
    if spec.name in image.topics.by_name or spec.name in pending_names:
        raise ControllerError(
            ErrorCode.TOPIC_ALREADY_EXISTS, f"Topic '{spec.name}' already exists."
        )
    if collisions is None:
        collisions = collision_index([*image.topics.by_name, *pending_names])
    existing = collisions.get(unify_collision_chars(spec.name))
    if existing is not None:
        raise ControllerError(
            ErrorCode.INVALID_TOPIC_EXCEPTION,
            f"Topic '{spec.name}' collides with existing topic: {existing}",
        )
    if spec.assignments:
        if spec.num_partitions != -1 or spec.replication_factor != -1:
            raise ControllerError(
                ErrorCode.INVALID_REQUEST,
                "Both numPartitions or replicationFactor and replicasAssignments were set. "
                "Both cannot be used at the same time.",
            )
        assignment = _check_assignment(image, spec.assignments)
    else:
        partitions = default_partitions if spec.num_partitions == -1 else spec.num_partitions
        rf = (
            default_replication_factor
            if spec.replication_factor == -1
            else spec.replication_factor
        )
        if partitions <= 0:
            raise ControllerError(
                ErrorCode.INVALID_PARTITIONS,
                "Number of partitions was set to an invalid non-positive value.",
            )
        if rf <= 0:
            raise ControllerError(
                ErrorCode.INVALID_REPLICATION_FACTOR,
                "Replication factor must be larger than 0, or -1 to use the default value.",
            )
        check_record_budget(partitions)
        start = total_partitions(image) if placement_start is None else placement_start
        assignment = place_replicas(image, partitions, rf, start)
    check_configs(spec.configs)
    records: list[Any] = [TopicRecord(name=spec.name, topic_id=topic_id)]
    for key, value in sorted(spec.configs.items()):
        records.append(
            ConfigRecord(resource_type=RESOURCE_TOPIC, resource_name=spec.name, name=key,
                         value=value)
        )
    for index, replicas in enumerate(assignment):
        records.append(_partition_record(image, topic_id, index, replicas))
    return CreatedTopic(spec.name, topic_id, len(assignment), len(assignment[0]), records)


def _partition_record(image: MetadataImage, topic_id: bytes, index: int,
                      replicas: list[int]) -> PartitionRecord:
    """A new partition: its ISR is the replicas that are unfenced now, led by the first of
    them (Kafka's createTopic); a manual assignment may name fenced brokers, which join the
    ISR through AlterPartition once they are back and caught up."""
    brokers = image.cluster.brokers
    isr = [r for r in replicas if r in brokers and not brokers[r].fenced]
    if not isr:
        raise ControllerError(
            ErrorCode.INVALID_REPLICA_ASSIGNMENT,
            f"All brokers specified in the manual partition assignment for partition {index} "
            "are fenced.",
        )
    return PartitionRecord(
        partition_id=index,
        topic_id=topic_id,
        replicas=list(replicas),
        isr=isr,
        leader=isr[0],
        leader_epoch=0,
        partition_epoch=0,
    )


def _check_assignment(image: MetadataImage, assignments: dict[int, list[int]]) -> list[list[int]]:
    brokers = image.cluster.brokers
    indexes = sorted(assignments)
    if indexes != list(range(len(indexes))):
        raise ControllerError(
            ErrorCode.INVALID_REPLICA_ASSIGNMENT,
            "Partitions in the assignment must be numbered consecutively from 0.",
        )
    result = [assignments[i] for i in indexes]
    sizes = {len(r) for r in result}
    if len(sizes) != 1 or 0 in sizes:
        raise ControllerError(
            ErrorCode.INVALID_REPLICA_ASSIGNMENT,
            "All partitions must have the same, non-zero number of replicas.",
        )
    for replicas in result:
        if len(set(replicas)) != len(replicas):
            raise ControllerError(
                ErrorCode.INVALID_REPLICA_ASSIGNMENT, f"Duplicate brokers in {replicas}."
            )
        for b in replicas:
            if b not in brokers:
                raise ControllerError(
                    ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                    f"The manual partition assignment includes broker {b}, but no such broker "
                    "is registered.",
                )
    return result


def plan_delete_topic(image: MetadataImage, name: str | None, topic_id: bytes | None) -> list[Any]:
    topic = (
        image.topics.by_name.get(name) if name is not None
        else image.topics.by_id.get(topic_id or b"")
    )
    if topic is None:
        if name is None:
            raise ControllerError(ErrorCode.UNKNOWN_TOPIC_ID, "This server does not host this topic ID.")
        raise ControllerError(
            ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
            "This server does not host this topic-partition.",
        )
    if topic.name in INTERNAL_TOPICS:
        # Deleting __consumer_offsets loses every committed offset (and __transaction_state
        # every transaction). Kafka's own tools refuse it; here the controller does, with the
        # error Kafka gives for deleting records of an internal topic.
        raise ControllerError(
            ErrorCode.INVALID_TOPIC_EXCEPTION, f"Cannot delete internal topic {topic.name}."
        )
    return [RemoveTopicRecord(topic_id=topic.topic_id)]


def plan_create_partitions(
    image: MetadataImage, name: str, count: int, assignments: list[list[int]] | None
) -> list[Any]:
    topic = image.topics.by_name.get(name)
    if topic is None:
        raise ControllerError(
            ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
            "This server does not host this topic-partition.",
        )
    current = len(topic.partitions)
    if count < current:
        raise ControllerError(
            ErrorCode.INVALID_PARTITIONS,
            f"The topic {name} currently has {current} partition(s); {count} would not be an "
            "increase.",
        )
    if count == current:
        raise ControllerError(
            ErrorCode.INVALID_PARTITIONS, f"Topic already has {current} partition(s)."
        )
    rf = len(next(iter(topic.partitions.values())).replicas)
    new = count - current
    check_record_budget(new)
    if assignments:
        if len(assignments) != new:
            raise ControllerError(
                ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                f"Attempted to add {new} additional partition(s), but only "
                f"{len(assignments)} assignment(s) were specified.",
            )
        placed = _check_assignment(image, {i: a for i, a in enumerate(assignments)})
    else:
        placed = place_replicas(image, new, rf, current)
    return [
        _partition_record(image, topic.topic_id, current + i, replicas)
        for i, replicas in enumerate(placed)
    ]
