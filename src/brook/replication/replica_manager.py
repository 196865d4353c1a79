"""The partitions this broker hosts, and the two data paths through them: append and read.

``ReplicaManager`` follows the metadata image (``apply_image``): it opens or creates a log for
every partition the image assigns here and deletes the logs of deleted topics. Handlers reach
partition data only through it. Errors come back as the storage exceptions (or
``NotEnoughReplicasError``); the produce and fetch handlers map them to Kafka error codes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from brook.metadata.image import MetadataImage
from brook.replication.partition import Partition, TopicPartition
from brook.storage.log import Log
from brook.storage.log_config import LogConfig
from brook.storage.log_manager import LogManager
from brook.storage.log_types import LogAppendInfo

log = logging.getLogger(__name__)


@dataclass(slots=True)
class ReadResult:
    """What one partition contributes to a fetch response."""

    chunks: list[memoryview]
    size: int
    high_watermark: int
    log_start_offset: int
    log_end_offset: int


class ReplicaManager:
    """Lifecycle: created at broker start after the logs are recovered; ``apply_image`` is
    called for every published metadata image. Event-loop thread only."""

    def __init__(self, node_id: int, log_manager: LogManager, broker_defaults: Mapping[str, str]):
        self.node_id = node_id
        self.log_manager = log_manager
        self.broker_defaults = broker_defaults
        self.partitions: dict[TopicPartition, Partition] = {}
        self._by_topic: dict[str, list[Partition]] = {}

    # -- metadata --------------------------------------------------------------------------
    def apply_image(self, image: MetadataImage, deleted_topics: Iterable[str] = ()) -> None:
        """Bring hosted partitions in line with the image."""
        for name in deleted_topics:
            for part in self._by_topic.pop(name, []):
                self.partitions.pop(part.tp, None)
                part.wake_waiters()
                self.log_manager.delete_log(part.tp.topic, part.tp.partition)
        configs = image.configs
        for topic in image.topics.by_name.values():
            overrides = configs.topic_config(topic.name)
            config: LogConfig | None = None
            for index, reg in topic.partitions.items():
                if self.node_id not in reg.replicas:
                    continue
                tp = TopicPartition(topic.name, index)
                existing = self.partitions.get(tp)
                if existing is None:
                    if config is None:
                        config = LogConfig.from_props(overrides, self.broker_defaults)
                    plog = self.log_manager.get_or_create_log(
                        topic.name, index, config, topic.topic_id
                    )
                    part = Partition(
                        tp, topic.topic_id, plog, self.node_id,
                        reg.leader, reg.leader_epoch, reg.replicas, reg.isr,
                    )
                    part.update_registration(reg.leader, reg.leader_epoch, reg.replicas, reg.isr)
                    self.partitions[tp] = part
                    self._by_topic.setdefault(topic.name, []).append(part)
                else:
                    part = existing
                    if (reg.leader, reg.leader_epoch, reg.replicas, reg.isr) != (
                        part.leader, part.leader_epoch, part.replicas, part.isr
                    ):
                        part.update_registration(
                            reg.leader, reg.leader_epoch, reg.replicas, reg.isr
                        )
            if config is None and topic.name in self._by_topic:
                new_config = LogConfig.from_props(overrides, self.broker_defaults)
                for part in self._by_topic[topic.name]:
                    if part.log.config != new_config:
                        part.log.update_config(new_config)

    def get_partition(self, topic: str, partition: int) -> Partition | None:
        return self.partitions.get(TopicPartition(topic, partition))

    # -- append ----------------------------------------------------------------------------
    def append_to_leader(
        self, part: Partition, records: memoryview, required_acks: int, now_ms: int
    ) -> LogAppendInfo:
        """Validate and append one partition's batches; raises storage errors for the caller to
        map. With a single-replica ISR the high watermark moves at once, so acks=all is
        satisfied when this returns."""
        part.check_enough_replicas(required_acks)
        info = part.log.append_as_leader(records, part.leader_epoch, now_ms)
        part.advance_high_watermark()
        return info

    # -- read ------------------------------------------------------------------------------
    @staticmethod
    def read(
        part: Partition, fetch_offset: int, max_bytes: int, min_one_batch: bool,
        isolation_committed: bool = True,
    ) -> ReadResult:
        plog: Log = part.log
        max_offset = part.high_watermark if isolation_committed else plog.log_end_offset
        info = plog.read(fetch_offset, max_bytes, max_offset, min_one_batch)
        chunks = info.chunks
        size = 0
        for c in chunks:
            size += c.nbytes
        return ReadResult(
            chunks, size, part.high_watermark, plog.log_start_offset, plog.log_end_offset
        )

    @staticmethod
    def wait_for_data(parts: Iterable[Partition]) -> asyncio.Future[None]:
        """A future resolved by the next append that moves the high watermark of any of
        ``parts`` (the caller applies its own timeout and re-reads)."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        for part in parts:
            part.add_waiter(fut)
        return fut
