"""One partition hosted by this broker: its log, leadership, ISR and high watermark.

The leader owns the high watermark: the offset below which every in-sync replica has the data,
so below which consumers may read. With this broker the only replica (the ISR is just the
leader), the high watermark moves with every append; followers and ISR shrink/expand join this
class when replication across brokers arrives, without changing its callers.

Waiting fetches park a future in ``_waiters``; the append that makes new data visible
resolves them (Kafka's DelayedFetch woken by ``checkAndComplete``), so nothing polls.
"""

from __future__ import annotations

import asyncio
from typing import NamedTuple

from brook.protocol.errors import ErrorCode
from brook.storage.log import Log
from brook.storage.log_validator import ValidatedBatches, analyze_and_validate_records

# ListOffsets' special timestamps.
LATEST_TIMESTAMP = -1
EARLIEST_TIMESTAMP = -2
MAX_TIMESTAMP = -3
EARLIEST_LOCAL_TIMESTAMP = -4
EARLIEST_TIERED_TIMESTAMP = -5


class TopicPartition(NamedTuple):
    """A NamedTuple, not a frozen dataclass: it is built and hashed for every partition of
    every produce and fetch, and a tuple's constructor and hash run in C."""

    topic: str
    partition: int

    def __str__(self) -> str:
        return f"{self.topic}-{self.partition}"


class OffsetAndEpoch(NamedTuple):
    """An answer to ListOffsets or OffsetForLeaderEpoch (-1 where there is none)."""

    offset: int
    timestamp: int
    leader_epoch: int


_NO_OFFSET = OffsetAndEpoch(-1, -1, -1)


class NotEnoughReplicasError(Exception):
    """acks=all with fewer in-sync replicas than ``min.insync.replicas``."""


class Partition:
    """Lifecycle: created when the metadata image makes this broker a replica; removed (and its
    log deleted) when the topic is deleted. Event-loop thread only."""

    __slots__ = (
        "_waiters",
        "high_watermark",
        "isr",
        "leader",
        "leader_epoch",
        "log",
        "node_id",
        "replicas",
        "topic_id",
        "tp",
    )

    def __init__(
        self,
        tp: TopicPartition,
        topic_id: bytes,
        log: Log,
        node_id: int,
        leader: int,
        leader_epoch: int,
        replicas: tuple[int, ...],
        isr: tuple[int, ...],
    ) -> None:
        self.tp = tp
        self.topic_id = topic_id
        self.log = log
        self.node_id = node_id
        self.leader = leader
        self.leader_epoch = leader_epoch
        self.replicas = replicas
        self.isr = isr
        self.high_watermark = log.log_end_offset
        self._waiters: list[asyncio.Future[None]] = []

    @property
    def is_leader(self) -> bool:
        return self.leader == self.node_id

    def update_registration(
        self, leader: int, leader_epoch: int, replicas: tuple[int, ...], isr: tuple[int, ...]
    ) -> None:
        self.leader = leader
        self.leader_epoch = leader_epoch
        self.replicas = replicas
        self.isr = isr
        if self.is_leader and self.log.log_end_offset > 0:
            # An empty log gets its first epoch entry from its first append, which saves a
            # checkpoint fsync per partition when thousands of partitions are created at once.
            self.log.leader_epoch_cache.assign(leader_epoch, self.log.log_end_offset)

    @property
    def log_start_offset(self) -> int:
        return self.log.log_start_offset

    def validate_records(self, records: memoryview) -> ValidatedBatches:
        """Validate batches for a later append (``ReplicaManager.append(validated=...)``).
        Reads only ``records`` and the log's config, so it may run in a worker thread; raises
        what the append would."""
        return analyze_and_validate_records(records, self.log.config)

    def check_leader_epoch(self, current_leader_epoch: int) -> ErrorCode:
        """Kafka's check of a request's ``current_leader_epoch`` (-1: the client sent none):
        an older epoch is fenced, a newer one is not known here yet."""
        if current_leader_epoch < 0 or current_leader_epoch == self.leader_epoch:
            return ErrorCode.NONE
        if current_leader_epoch < self.leader_epoch:
            return ErrorCode.FENCED_LEADER_EPOCH
        return ErrorCode.UNKNOWN_LEADER_EPOCH

    # -- offsets ---------------------------------------------------------------------------
    def fetch_offset_for_timestamp(self, timestamp: int) -> OffsetAndEpoch | ErrorCode:
        """ListOffsets for one partition: -2 earliest (log start), -1 latest (the high
        watermark, also the last stable offset while there are no transactions), -3 the
        record with the largest timestamp, -4 earliest local (= earliest without tiered
        storage), -5 earliest tiered (none); otherwise the first record at or after
        ``timestamp`` below the high watermark."""
        plog = self.log
        if timestamp == LATEST_TIMESTAMP:
            return OffsetAndEpoch(self.high_watermark, -1, self.leader_epoch)
        if timestamp == EARLIEST_TIMESTAMP or timestamp == EARLIEST_LOCAL_TIMESTAMP:
            offset = plog.log_start_offset
            return OffsetAndEpoch(offset, -1, plog.leader_epoch_cache.epoch_for_offset(offset))
        if timestamp == EARLIEST_TIERED_TIMESTAMP:
            return _NO_OFFSET
        if timestamp == MAX_TIMESTAMP:
            found = plog.offset_of_max_timestamp()
            if found.offset < 0:
                return _NO_OFFSET
            return OffsetAndEpoch(found.offset, found.timestamp, found.leader_epoch)
        if timestamp < 0:
            return ErrorCode.INVALID_REQUEST
        hit = plog.fetch_offset_by_timestamp(timestamp)
        if hit is None or hit.offset >= self.high_watermark:
            return _NO_OFFSET
        return OffsetAndEpoch(hit.offset, hit.timestamp, hit.leader_epoch)

    def end_offset_for_epoch(self, leader_epoch: int) -> tuple[int, int]:
        """OffsetForLeaderEpoch: ``(epoch, end offset)`` of the largest epoch at most
        ``leader_epoch``, from the leader-epoch cache."""
        return self.log.leader_epoch_cache.end_offset_for(leader_epoch, self.log.log_end_offset)

    def delete_records_before(self, offset: int) -> tuple[int, bool] | ErrorCode:
        """DeleteRecords: move the log start offset to ``offset`` (-1: the high watermark).
        Returns the new low watermark and whether file work is owed (segment files removed
        later by ``run_deferred_io``, in a worker thread), or OFFSET_OUT_OF_RANGE."""
        target = self.high_watermark if offset == -1 else offset
        if target < 0 or target > self.high_watermark:
            return ErrorCode.OFFSET_OUT_OF_RANGE
        owed = self.log.maybe_increment_log_start_offset(target, defer_io=True)
        return self.log.log_start_offset, owed

    def run_deferred_io(self) -> None:
        """In a worker thread: the file work a ``delete_records_before`` left owed."""
        self.log.run_deferred_io()

    @property
    def replicas_in_sync(self) -> int:
        """Replicas that hold every acknowledged record: the leader alone, since followers do
        not fetch yet — the metadata's ISR names the assigned replicas, not copies of the data,
        so an acks=all promise must not be counted from it."""
        return 1

    def check_enough_replicas(self, required_acks: int) -> None:
        in_sync = self.replicas_in_sync
        if required_acks == -1 and in_sync < self.log.config.min_insync_replicas:
            raise NotEnoughReplicasError(
                f"{self.tp}: {in_sync} in-sync replicas, "
                f"min.insync.replicas={self.log.config.min_insync_replicas}"
            )

    def advance_high_watermark(self, limit: int | None = None) -> None:
        """The leader's log is the partition's only copy: followers do not fetch yet, so the
        high watermark is the leader's log end whatever the replication factor (a partition
        of a cluster is served by its leader alone until follower replication exists; the
        metadata already names its replicas and ISR as Kafka's does).

        ``limit`` (the recovery point, when ``flush.messages`` made an append wait for its
        fsync) keeps consumers from seeing records before they are on disk, as in Kafka,
        whose flush runs inside the append; then the high watermark only moves forward."""
        if self.is_leader or self.replicas_in_sync <= 1:
            new_hw = self.log.log_end_offset
            if limit is not None:
                new_hw = min(new_hw, limit)
                if new_hw <= self.high_watermark:
                    return
            if new_hw != self.high_watermark:
                self.high_watermark = new_hw
                self.wake_waiters()

    def wake_waiters(self) -> None:
        waiters = self._waiters
        if waiters:
            self._waiters = []
            for fut in waiters:
                if not fut.done():
                    fut.set_result(None)

    def add_waiter(self, fut: asyncio.Future[None]) -> None:
        self._waiters.append(fut)

    def discard_waiter(self, fut: asyncio.Future[None]) -> None:
        try:
            self._waiters.remove(fut)
        except ValueError:
            pass
