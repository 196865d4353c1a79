"""One partition hosted by this broker: its log, leadership, ISR and high watermark.

The leader owns the high watermark: the offset below which every in-sync replica has the
data, so below which consumers may read. It is the smallest log end over the *maximal* ISR
(the committed ISR plus a follower whose addition is in flight, KIP-497/841), so a record
counts as committed only once every replica that may be elected leader holds it. A
single-replica partition skips all of this: its high watermark moves with the append.
Records an append waits to fsync (``flush.messages``) are not committed before the fsync,
whichever path moves the high watermark (``LogFlusher.high_watermark_limit``).

A partition starts from the high watermark its log directory checkpointed
(``replication-offset-checkpoint``, capped at the log end), as Kafka's does: starting from
the log end, a restarted replica that leads (or answers ListOffsets) would serve as
committed a tail the other replicas may never have had.

Followers report their log end by fetching (``update_follower_fetch``); the leader proposes
ISR changes (``isr_to_expand``/``isr_to_shrink`` → ``propose_isr``) that the controller
commits through AlterPartition, one in flight at a time (Kafka's PendingExpandIsr /
PendingShrinkIsr). The metadata image remains the truth: a registration with a newer
partition epoch replaces whatever was pending.

Waiting consumer fetches park a future in ``_waiters`` (woken when the high watermark moves);
followers' fetches in ``_follower_waiters`` (woken when the log end moves); acks=all produces
in ``delayed_produces`` (completed when the high watermark passes them). Nothing polls.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import NamedTuple

from brook.protocol.errors import ErrorCode
from brook.replication.delayed_produce import DelayedProduces
from brook.replication.replica_state import ReplicaState
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
    log deleted) when the topic is deleted or a reassignment moves the replica to other
    brokers. Event-loop thread only."""

    __slots__ = (
        "_follower_waiters",
        "_led_epoch",
        "_waiters",
        "delayed_produces",
        "high_watermark",
        "isr",
        "leader",
        "leader_epoch",
        "leader_epoch_start_offset",
        "log",
        "maximal_isr",
        "node_id",
        "partition_epoch",
        "pending_isr",
        "remote",
        "removed",
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
        self.maximal_isr = isr
        self.pending_isr: tuple[int, ...] | None = None
        """The ISR proposed to the controller and not answered yet (None: nothing in flight)."""
        self.partition_epoch = -1
        self.leader_epoch_start_offset = log.log_end_offset
        self.remote: dict[int, ReplicaState] = {}
        # What is committed is not known from the log alone (its tail may hold records the
        # ISR never copied): the checkpointed high watermark, capped at the log end. Leaders
        # and followers alike start here; the ISR's fetches (or a sole ISR member's
        # registration) move it, and a follower's consumers (KIP-392) see no more.
        self.high_watermark = max(
            log.log_start_offset, min(log.checkpointed_high_watermark, log.log_end_offset))
        self._waiters: list[asyncio.Future[None]] = []
        self._follower_waiters: list[asyncio.Future[None]] = []
        self.delayed_produces = DelayedProduces()
        self._led_epoch = -2  # the leader epoch this broker started leading at, -2: none
        self.removed = False
        """Set by ``close``: a request that found the partition before it went away (a
        long-polling fetch) must not read its log, whose directory is being deleted."""

    @property
    def is_leader(self) -> bool:
        return self.leader == self.node_id

    def update_registration(
        self, leader: int, leader_epoch: int, replicas: tuple[int, ...], isr: tuple[int, ...],
        partition_epoch: int = -1, now_ms: int = 0,
    ) -> None:
        """Adopt the image's registration. In the same term, a partition epoch no newer than
        the one this leader holds (from an AlterPartition answer, or the image already
        applied) changes nothing: it must not drop an ISR change proposed since (Kafka's
        ``makeLeader`` skips such a stale update the same way)."""
        if (leader_epoch == self.leader_epoch and leader == self.leader
                and 0 <= partition_epoch <= self.partition_epoch):
            return
        was_leader = self._led_epoch != -2
        self.leader = leader
        self.leader_epoch = leader_epoch
        self.replicas = replicas
        self.isr = self.maximal_isr = isr
        self.pending_isr = None
        self.partition_epoch = partition_epoch
        if self.is_leader:
            if self._led_epoch != leader_epoch:
                self._become_leader(now_ms)
            else:
                for r in replicas:
                    if r != self.node_id and r not in self.remote:
                        self.remote[r] = ReplicaState()
                for r in [r for r in self.remote if r not in replicas]:
                    del self.remote[r]
            self.maybe_increment_high_watermark()
        elif was_leader:
            self._led_epoch = -2
            self.remote = {}
            self.delayed_produces.fail_all(f"{self.tp}: this broker no longer leads it")
            self.wake_waiters()
            self.wake_follower_waiters()

    def _become_leader(self, now_ms: int) -> None:
        """A new term: followers' progress is unknown until they fetch again; those in the
        ISR get a full lag period to do so (Kafka's ``resetReplicaState``)."""
        self._led_epoch = self.leader_epoch
        end = self.log.log_end_offset
        self.leader_epoch_start_offset = end
        if end > 0:
            # An empty log gets its first epoch entry from its first append, which saves a
            # checkpoint fsync per partition when thousands of partitions are created at once.
            self.log.leader_epoch_cache.assign(self.leader_epoch, end)
        self.remote = {r: ReplicaState(now_ms if r in self.isr else 0)
                       for r in self.replicas if r != self.node_id}

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

    def check_enough_replicas(self, required_acks: int) -> None:
        """acks=all is refused before the append while the committed ISR is smaller than
        ``min.insync.replicas`` (Kafka's ``appendRecordsToLeader``)."""
        if required_acks == -1 and len(self.isr) < self.log.config.min_insync_replicas:
            raise NotEnoughReplicasError(
                f"{self.tp}: {len(self.isr)} in-sync replicas, "
                f"min.insync.replicas={self.log.config.min_insync_replicas}"
            )

    # -- high watermark ----------------------------------------------------------------------
    def advance_high_watermark(self, limit: int | None = None) -> None:
        """After an append. A single in-sync replica (the leader) makes the high watermark its
        log end at once; otherwise waiting followers are woken and the high watermark is the
        smallest log end over the maximal ISR.

        ``limit`` (the recovery point, when ``flush.messages`` made an append wait for its
        fsync) keeps consumers from seeing records before they are on disk, as in Kafka,
        whose flush runs inside the append; then the high watermark only moves forward."""
        if self._follower_waiters:
            self.wake_follower_waiters()
        if len(self.maximal_isr) > 1:
            self.maybe_increment_high_watermark(limit)
            return
        new_hw = self.log.log_end_offset
        held = self.log.flusher.high_watermark_limit
        if held is not None:
            limit = held if limit is None else min(limit, held)
        if limit is not None:
            new_hw = min(new_hw, limit)
            if new_hw <= self.high_watermark:
                return
        if new_hw != self.high_watermark:
            self.high_watermark = new_hw
            self.wake_waiters()
            if self.delayed_produces.heap:
                self._complete_delayed_produces()

    def maybe_increment_high_watermark(self, limit: int | None = None) -> bool:
        """Kafka's ``maybeIncrementLeaderHW``: the smallest log end over the maximal ISR,
        never moving backwards. Returns whether it moved."""
        if not self.is_leader:
            return False
        new_hw = self.log.log_end_offset
        for r in self.maximal_isr:
            if r != self.node_id:
                state = self.remote.get(r)
                follower_end = state.log_end_offset if state is not None else -1
                if follower_end < new_hw:
                    new_hw = follower_end
        held = self.log.flusher.high_watermark_limit
        if held is not None:
            new_hw = min(new_hw, held)
        if limit is not None:
            new_hw = min(new_hw, limit)
        if new_hw <= self.high_watermark:
            return False
        self.high_watermark = new_hw
        self.wake_waiters()
        if self.delayed_produces.heap:
            self._complete_delayed_produces()
        return True

    def _complete_delayed_produces(self) -> None:
        enough = len(self.maximal_isr) >= self.log.config.min_insync_replicas
        self.delayed_produces.complete_up_to(self.high_watermark, enough)

    def wait_for_high_watermark(self, required_offset: int) -> asyncio.Future[None] | None:
        """acks=all: None when the high watermark already passes ``required_offset``, else a
        future completed (or failed) as Kafka's DelayedProduce is."""
        if self.high_watermark >= required_offset:
            if len(self.maximal_isr) >= self.log.config.min_insync_replicas:
                return None
            fut = self.delayed_produces.add(required_offset)
            self._complete_delayed_produces()  # fails it: too few replicas after the append
            return fut
        return self.delayed_produces.add(required_offset)

    # -- followers -------------------------------------------------------------------------
    def update_follower_fetch(
        self, replica_id: int, broker_epoch: int, fetch_offset: int, now_ms: int,
        leader_end_offset: int,
    ) -> bool:
        """A follower fetched from ``fetch_offset``: record its progress and move the high
        watermark if it now allows; False when ``replica_id`` is not a replica here."""
        state = self.remote.get(replica_id)
        if state is None:
            return False
        state.update_fetch_state(fetch_offset, now_ms, leader_end_offset, broker_epoch)
        if replica_id in self.maximal_isr:
            self.maybe_increment_high_watermark()
        return True

    def isr_to_expand(self, replica_id: int) -> tuple[int, ...] | None:
        """The ISR with ``replica_id`` added, if it should join now: nothing in flight, and
        its log end at the high watermark and past this term's first offset (so it holds
        every committed record and this leader's epoch boundary)."""
        if self.pending_isr is not None or replica_id in self.isr or not self.is_leader:
            return None
        state = self.remote.get(replica_id)
        if state is None:
            return None
        end = state.log_end_offset
        if end < self.high_watermark or end < self.leader_epoch_start_offset:
            return None
        return (*self.isr, replica_id)

    def isr_to_shrink(self, now_ms: int, lag_time_max_ms: int) -> tuple[int, ...] | None:
        """The ISR without the followers that have not caught up within the lag time."""
        if self.pending_isr is not None or not self.is_leader or len(self.isr) <= 1:
            return None
        end = self.log.log_end_offset
        out_of_sync = [
            r for r in self.isr
            if r != self.node_id and ((state := self.remote.get(r)) is None
                                      or not state.is_caught_up(end, now_ms, lag_time_max_ms))
        ]
        if not out_of_sync:
            return None
        return tuple(r for r in self.isr if r not in out_of_sync)

    def propose_isr(self, new_isr: tuple[int, ...]) -> None:
        """An AlterPartition is now in flight: while it is, the high watermark counts the
        union of the old and new ISR (a shrink takes effect only once committed)."""
        self.pending_isr = new_isr
        self.maximal_isr = (*self.isr, *(r for r in new_isr if r not in self.isr))

    def isr_change_committed(
        self, proposed: tuple[int, ...], leader_epoch: int, isr: tuple[int, ...],
        partition_epoch: int,
    ) -> bool:
        """The controller's answer to ``proposed``; an answer for an older term or an
        older partition epoch, or for a proposal no longer pending, is ignored."""
        if (self.pending_isr != proposed or leader_epoch != self.leader_epoch
                or partition_epoch < self.partition_epoch):
            return False
        self.isr = self.maximal_isr = isr
        self.pending_isr = None
        self.partition_epoch = partition_epoch
        self.maybe_increment_high_watermark()
        return True

    def isr_change_failed(self, proposed: tuple[int, ...]) -> None:
        """The controller refused ``proposed``: back to the committed ISR, awaiting the
        metadata that explains why (Kafka's ``handleAlterPartitionError``)."""
        if self.pending_isr == proposed:
            self.pending_isr = None
            self.maximal_isr = self.isr

    # -- waiters ---------------------------------------------------------------------------
    def wake_waiters(self) -> None:
        waiters = self._waiters
        if waiters:
            self._waiters = []
            _resolve(waiters)

    def wake_follower_waiters(self) -> None:
        waiters = self._follower_waiters
        if waiters:
            self._follower_waiters = []
            _resolve(waiters)

    def add_waiter(self, fut: asyncio.Future[None], follower: bool = False) -> None:
        (self._follower_waiters if follower else self._waiters).append(fut)

    def discard_waiter(self, fut: asyncio.Future[None], follower: bool = False) -> None:
        try:
            (self._follower_waiters if follower else self._waiters).remove(fut)
        except ValueError:
            pass

    def close(self, reason: str = "was deleted") -> None:
        """The partition is gone from this broker (its topic deleted, or its replica moved to
        other brokers): fail acks=all waits (NOT_LEADER_OR_FOLLOWER, which a producer retries
        against the new leader) and wake waiting fetches, which then answer the error."""
        self.removed = True
        self.delayed_produces.fail_all(f"{self.tp} {reason}")
        self.wake_waiters()
        self.wake_follower_waiters()


def _resolve(waiters: Iterable[asyncio.Future[None]]) -> None:
    for fut in waiters:
        if not fut.done():
            fut.set_result(None)
