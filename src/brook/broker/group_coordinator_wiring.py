"""Glue between the group coordinator and this broker's logs, metadata and controller.

The coordinator package writes and reads ``__consumer_offsets`` only through Protocols; this
module implements them over the replica manager:

* ``ReplicaManagerPartitionWriter`` builds one RecordBatch from a coordinator's records and
  appends it as the partition's leader with acks=all.
* ``ReplicaManagerCoordinatorLoader`` reads a partition from its log start to its log end and
  hands every record to the shard's ``replay``, yielding to the event loop between reads.
* ``BrokerGroupCoordinator`` follows the metadata image (the partitions of
  ``__consumer_offsets`` this broker leads are the shards it serves), creates the topic the
  first time a client looks for a coordinator, and answers FindCoordinator.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from brook.broker.config import BrokerConfig
from brook.broker.controller_channel import ControllerChannel
from brook.broker.errors import error_code_for
from brook.coordinator.group import (
    OFFSETS_TOPIC,
    GroupCoordinatorConfig,
    GroupCoordinatorService,
)
from brook.coordinator.group.config import GROUP_CONFIG_DEFAULTS
from brook.coordinator.runtime import (
    CoordinatorLoadError,
    CoordinatorRecord,
    CoordinatorWriteError,
    ReplayFn,
)
from brook.env import Clock, Rng
from brook.metadata.controller.replication_control import ControllerError, TopicSpec
from brook.metadata.delta import MetadataDelta
from brook.metadata.image import MetadataImage
from brook.metadata.loader import MetadataLoader
from brook.protocol.errors import ErrorCode
from brook.records.batch import iter_batches
from brook.records.errors import CorruptRecordError, InvalidRecordError
from brook.records.record import build_batch, decode_records
from brook.replication.delayed_produce import (
    NotEnoughReplicasAfterAppendError,
    NotLeaderOrFollowerError,
)
from brook.replication.partition import NotEnoughReplicasError
from brook.replication.replica_manager import ReplicaManager
from brook.storage.errors import StorageError

log = logging.getLogger(__name__)

_LOAD_READ_BYTES = 4 * 1024 * 1024
_APPEND_ERRORS = (StorageError, CorruptRecordError, InvalidRecordError, NotEnoughReplicasError,
                  NotEnoughReplicasAfterAppendError, NotLeaderOrFollowerError, OSError)

# FindCoordinator key types.
KEY_TYPE_GROUP = 0
KEY_TYPE_TRANSACTION = 1
KEY_TYPE_SHARE = 2


class ReplicaManagerPartitionWriter:
    """``PartitionWriter`` over the replica manager: one batch per call, acks=all, waiting at
    most ``offsets.commit.timeout.ms`` for the ISR (as Kafka's coordinator append): a follower
    that died still counts in the ISR until the leader drops it, and a commit must not hang
    its member, nor a stopping broker, for that long."""

    def __init__(self, replica_manager: ReplicaManager, clock: Clock,
                 commit_timeout_ms: int = 5000) -> None:
        self._replica_manager = replica_manager
        self._clock = clock
        self._timeout_s = commit_timeout_ms / 1000.0

    async def append(self, topic: str, partition: int,
                     records: Sequence[CoordinatorRecord]) -> int:
        rm = self._replica_manager
        part = rm.get_partition(topic, partition)
        if part is None:
            raise CoordinatorWriteError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
        if not part.is_leader:
            raise CoordinatorWriteError(ErrorCode.NOT_LEADER_OR_FOLLOWER)
        now_ms = self._clock.now_ms()
        batch = build_batch([(key, value, (), now_ms) for key, value in records])
        try:
            info, durable = rm.append(part, memoryview(batch), -1, now_ms)
            if durable is not None:  # on every ISR replica (and fsynced, with flush.messages)
                try:
                    await self._clock.wait_for(durable, self._timeout_s)
                except TimeoutError as exc:
                    raise CoordinatorWriteError(
                        ErrorCode.REQUEST_TIMED_OUT,
                        f"{topic}-{partition}: not on every in-sync replica within "
                        f"{self._timeout_s * 1000:.0f} ms") from exc
        except _APPEND_ERRORS as exc:
            raise CoordinatorWriteError(error_code_for(exc), str(exc)) from exc
        return info.last_offset


class ReplicaManagerCoordinatorLoader:
    """``CoordinatorLoader`` over the replica manager: everything up to the log end offset,
    since as leader this broker's log is the partition's truth."""

    def __init__(self, replica_manager: ReplicaManager) -> None:
        self._replica_manager = replica_manager

    async def load(self, topic: str, partition: int, replay: ReplayFn) -> None:
        rm = self._replica_manager
        part = rm.get_partition(topic, partition)
        if part is None:
            raise CoordinatorLoadError(f"{topic}-{partition} is not hosted here")
        offset = part.log.log_start_offset
        while offset < part.log.log_end_offset:
            if rm.get_partition(topic, partition) is not part:
                raise CoordinatorLoadError(f"{topic}-{partition} went away while loading")
            result = rm.read(part, offset, _LOAD_READ_BYTES, True, isolation_committed=False)
            if not result.chunks:
                break
            for chunk in result.chunks:
                for pos, header in iter_batches(chunk):
                    if not header.is_control:
                        for record in decode_records(chunk, pos):
                            replay(record.offset, record.key, record.value)
                    offset = header.next_offset
            del result  # drop the segment views before yielding
            await asyncio.sleep(0)  # let requests in: they are told the load is in progress


@dataclass(frozen=True, slots=True)
class CoordinatorNode:
    error: ErrorCode
    node_id: int = -1
    host: str = ""
    port: int = -1
    message: str | None = None


class BrokerGroupCoordinator:
    """Lifecycle: built by ``BrokerNode`` before its first metadata image is published, so it
    sees every leadership change; ``stop`` closes every shard. Event-loop thread only."""

    def __init__(
        self, config: BrokerConfig, replica_manager: ReplicaManager, loader: MetadataLoader,
        controller: ControllerChannel, clock: Clock, rng: Rng,
    ) -> None:
        self._node_id = config.node_id
        self._loader = loader
        self._controller = controller
        # Keys the broker's own defaults table knows (shown by DescribeConfigs) take their
        # value from there, so what is shown is what is used.
        props = {key: value for key in GROUP_CONFIG_DEFAULTS
                 if (value := config.value(key)) is not None}
        self.config = GroupCoordinatorConfig.from_props(props)
        self.service = GroupCoordinatorService(
            self.config, ReplicaManagerPartitionWriter(replica_manager, clock,
                                          self.config.offsets_commit_timeout_ms),
            ReplicaManagerCoordinatorLoader(replica_manager), clock, rng,
        )
        self._create_lock = asyncio.Lock()
        loader.publishers.append(self._on_metadata)

    def _on_metadata(self, delta: MetadataDelta, image: MetadataImage) -> None:
        topic = image.topics.by_name.get(OFFSETS_TOPIC)
        node_id = self._node_id
        led: set[int] = set()
        if topic is not None:
            # An existing topic's partition count wins over the configured one, as in Kafka.
            self.service.num_partitions = len(topic.partitions) or self.service.num_partitions
            led = {i for i, reg in topic.partitions.items() if reg.leader == node_id}
        for partition in sorted(set(self.service.shards) - led):
            self.service.on_resigned(partition)
        for partition in sorted(led - set(self.service.shards)):
            self.service.on_elected(partition)

    async def stop(self) -> None:
        await self.service.shutdown()

    # -- FindCoordinator -------------------------------------------------------------------
    async def find_coordinator(self, key: str, key_type: int, listener: str) -> CoordinatorNode:
        # brook has no transaction or share coordinator. COORDINATOR_NOT_AVAILABLE would be
        # retried by every client until its own timeout (the Java admin client retries it
        # without backoff); UNSUPPORTED_VERSION is final, and clients report it at once
        # (UnsupportedVersionException from the Java admin, a fatal error from a producer's
        # initTransactions).
        if key_type == KEY_TYPE_TRANSACTION:
            return CoordinatorNode(ErrorCode.UNSUPPORTED_VERSION,
                                   message="this broker has no transaction coordinator")
        if key_type == KEY_TYPE_SHARE:
            return CoordinatorNode(ErrorCode.UNSUPPORTED_VERSION,
                                   message="this broker has no share coordinator")
        if key_type != KEY_TYPE_GROUP:
            return CoordinatorNode(ErrorCode.INVALID_REQUEST,
                                   message=f"unknown coordinator key type {key_type}")
        image = self._loader.image
        if OFFSETS_TOPIC not in image.topics.by_name:
            error = await self._create_offsets_topic()
            if error is not None:
                return error
            image = self._loader.image
        topic = image.topics.by_name.get(OFFSETS_TOPIC)
        reg = topic.partitions.get(self.service.partition_for(key)) if topic else None
        if reg is None or reg.leader < 0:
            return CoordinatorNode(ErrorCode.COORDINATOR_NOT_AVAILABLE)
        broker = image.cluster.brokers.get(reg.leader)
        endpoint = broker.endpoint(listener) if broker is not None and not broker.fenced else None
        if endpoint is None:
            return CoordinatorNode(ErrorCode.COORDINATOR_NOT_AVAILABLE)
        return CoordinatorNode(ErrorCode.NONE, reg.leader, endpoint.host, endpoint.port)

    async def _create_offsets_topic(self) -> CoordinatorNode | None:
        async with self._create_lock:
            image = self._loader.image
            if OFFSETS_TOPIC in image.topics.by_name:
                return None
            alive = sum(1 for b in image.cluster.brokers.values() if not b.fenced)
            spec = TopicSpec(
                OFFSETS_TOPIC,
                num_partitions=self.config.offsets_topic_num_partitions,
                replication_factor=max(min(self.config.offsets_topic_replication_factor,
                                           alive), 1),
                configs={
                    "cleanup.policy": "compact",
                    "compression.type": "producer",
                    "segment.bytes": str(self.config.offsets_topic_segment_bytes),
                },
            )
            results = await self._controller.create_topics([spec], validate_only=False)
            for result in results:
                if isinstance(result, ControllerError) and (
                    result.code != ErrorCode.TOPIC_ALREADY_EXISTS
                ):
                    log.error("cannot create %s: %s", OFFSETS_TOPIC, result.message)
                    return CoordinatorNode(ErrorCode.COORDINATOR_NOT_AVAILABLE,
                                           message=result.message)
            log.info("created %s with %d partitions", OFFSETS_TOPIC, spec.num_partitions)
            return None
