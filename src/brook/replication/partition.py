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

from brook.storage.log import Log


class TopicPartition(NamedTuple):
    """A NamedTuple, not a frozen dataclass: it is built and hashed for every partition of
    every produce and fetch, and a tuple's constructor and hash run in C."""

    topic: str
    partition: int

    def __str__(self) -> str:
        return f"{self.topic}-{self.partition}"


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

    def check_enough_replicas(self, required_acks: int) -> None:
        if required_acks == -1 and len(self.isr) < self.log.config.min_insync_replicas:
            raise NotEnoughReplicasError(
                f"{self.tp}: {len(self.isr)} in-sync replicas, "
                f"min.insync.replicas={self.log.config.min_insync_replicas}"
            )

    def advance_high_watermark(self, limit: int | None = None) -> None:
        """Single-replica ISR: everything in the leader's log is replicated everywhere needed.

        ``limit`` (the recovery point, when ``flush.messages`` made an append wait for its
        fsync) keeps consumers from seeing records before they are on disk, as in Kafka,
        whose flush runs inside the append; then the high watermark only moves forward."""
        if len(self.isr) <= 1:
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
