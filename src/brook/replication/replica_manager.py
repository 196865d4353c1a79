"""The partitions this broker hosts, and the two data paths through them: append and read.

``ReplicaManager`` follows the metadata image (``apply_image``): it opens or creates a log for
every partition the image assigns here, and deletes the logs of deleted topics and of
partitions a reassignment moved to other brokers (as Kafka's ``applyDelta`` does: a replica
that stays would keep fetching, and its directory would stay on disk for ever). Handlers reach
partition data only through it. Errors come back as the storage exceptions (or
``NotEnoughReplicasError``); the produce and fetch handlers map them to Kafka error codes.
"""

from __future__ import annotations

import asyncio
import logging
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import NamedTuple

from brook.config.broker import BROKER_CONFIGS
from brook.env import SYSTEM_CLOCK, Clock
from brook.metadata.image import MetadataImage, PartitionRegistration
from brook.protocol.errors import ErrorCode
from brook.replication.alter_partition_manager import AlterPartitionManager
from brook.replication.local_changes import local_changes
from brook.replication.partition import OffsetAndEpoch, Partition, TopicPartition
from brook.replication.replica_selector import ReplicaSelector, replica_selector
from brook.replication.replication_quota import ReplicationQuotas
from brook.storage.errors import InvalidConfigError, LogDirError
from brook.storage.log import Log
from brook.storage.log_config import LogConfig
from brook.storage.log_manager import HostedLog, LogManager
from brook.storage.log_types import LogAppendInfo
from brook.storage.log_validator import ValidatedBatches as ValidatedBatches
from brook.storage.segment import LogSegment as LogSegment

log = logging.getLogger(__name__)

_OPEN_CHUNK = 100
_NewPartition = tuple[str, int, LogConfig, bytes, PartitionRegistration]


class AppendResult(NamedTuple):
    """One partition's append: what the log assigned, and when the high watermark passes it.

    ``high_watermark_reached`` is None when it already has (acks=all may answer at once),
    else a future resolved once it does, or failed (the fsync it waited on failed). A tuple:
    built for every partition of every produce."""

    info: LogAppendInfo
    high_watermark_reached: asyncio.Future[None] | None


@dataclass(slots=True)
class ReadResult:
    """What one partition contributes to a fetch response."""

    chunks: list[memoryview]
    size: int
    high_watermark: int
    log_start_offset: int
    log_end_offset: int


class FollowerListener(typing.Protocol):
    """Who follows partition changes (``replication.fetcher_manager``); event loop."""

    def partitions_changed(self, parts: Iterable[Partition]) -> None: ...

    def partitions_removed(self, tps: Iterable[TopicPartition]) -> None: ...


class ReplicaManager:
    """Lifecycle: created at broker start after the logs are recovered; ``apply_image`` is
    called for every published metadata image. Event-loop thread only."""

    def __init__(self, node_id: int, log_manager: LogManager, broker_defaults: Mapping[str, str],
                 clock: Clock = SYSTEM_CLOCK):
        self.node_id = node_id
        self.log_manager = log_manager
        self.broker_defaults = broker_defaults
        # Keyed by TopicPartition, typed by its tuple shape so lookups can pass a plain tuple.
        self.partitions: dict[tuple[str, int], Partition] = {}
        self.followers: FollowerListener | None = None
        """Told of registration changes and removals: the fetchers follow them."""
        self._by_topic: dict[str, list[Partition]] = {}
        self._image: MetadataImage | None = None
        self.replica_lag_time_max_ms = BROKER_CONFIGS.get_int(
            broker_defaults, "replica.lag.time.max.ms")
        self.alter_partition = AlterPartitionManager(node_id, self._own_broker_epoch)
        """Sends ISR changes once its ``send`` is wired to the controller channel."""
        self.replica_selector: ReplicaSelector | None = replica_selector(broker_defaults)
        """``replica.selector.class``: who tells consumers to read from a follower (KIP-392)."""
        self.quotas = ReplicationQuotas(node_id, clock, broker_defaults)
        """The replication throttles: rates from each image, partitions from topic configs."""

    # -- metadata --------------------------------------------------------------------------
    def topic_config(self, name: str, overrides: Mapping[str, str]) -> LogConfig:
        """A topic's effective configuration. An override this version cannot parse (written
        by another version) is dropped with an error rather than failing every other key."""
        props = dict(overrides)
        while True:
            try:
                return LogConfig.from_props(props, self.broker_defaults)
            except InvalidConfigError as exc:
                if exc.key not in props:
                    raise
                log.error("topic %s: ignoring config %s=%r: %s", name, exc.key,
                          props.pop(exc.key), exc)

    def hosted_logs(self, image: MetadataImage) -> dict[tuple[str, int], HostedLog]:
        """Every partition the image places on this broker, with its topic's configuration
        and id: what the log manager opens at start-up (before any retention pass)."""
        hosted: dict[tuple[str, int], HostedLog] = {}
        for topic in image.topics.by_name.values():
            config: LogConfig | None = None
            for index, reg in topic.partitions.items():
                if self.node_id in reg.replicas:
                    if config is None:
                        config = self.topic_config(
                            topic.name, image.configs.topic_config(topic.name)
                        )
                    hosted[(topic.name, index)] = HostedLog(config, topic.topic_id)
        return hosted

    def apply_image(self, image: MetadataImage, deleted_topics: Iterable[str] = ()) -> None:
        """Bring hosted partitions in line with the image, deleting and opening logs on this
        thread (start-up, before any client is served)."""
        self._image = image
        self.quotas.apply_image(image)
        specs, gone = self._reconcile(image, deleted_topics)
        if gone:
            self.log_manager.delete_logs(gone)
        for spec in specs:
            self._install(spec, self.log_manager.get_or_create_log(*spec[:4]))

    async def apply_image_async(
        self, image: MetadataImage, deleted_topics: Iterable[str] = (),
        changed_topics: Iterable[str] | None = None,
    ) -> None:
        """Like ``apply_image``, but new logs are created in a worker thread, a chunk at a time:
        creating a partition costs a few filesystem calls (~1 ms), and a CreateTopics for
        thousands of partitions must not stall every other connection. Logs of partitions
        that left this broker are renamed for deletion first, so one that comes back (or a
        topic re-created under the same name) gets a fresh directory."""
        self._image = image
        self.quotas.apply_image(image)
        specs, gone = self._reconcile(image, deleted_topics, changed_topics)
        if gone:
            await self.log_manager.delete_logs_async(gone)
        for i in range(0, len(specs), _OPEN_CHUNK):
            chunk = specs[i : i + _OPEN_CHUNK]
            logs = await asyncio.to_thread(
                lambda c=chunk: [self.log_manager.open_new_log(*s[:4]) for s in c]  # type: ignore[misc]
            )
            for spec, plog in zip(chunk, logs, strict=True):
                self._install(spec, self.log_manager.register_log(spec[0], spec[1], plog))

    def _install(self, spec: _NewPartition, plog: Log) -> None:
        topic, index, config, topic_id, reg = spec
        if TopicPartition(topic, index) in self.partitions:
            return
        if plog.config != config:  # a log opened before this image: the topic's settings win
            plog.update_config(config)
        tp = TopicPartition(topic, index)
        part = Partition(
            tp, topic_id, plog, self.node_id, reg.leader, reg.leader_epoch, reg.replicas, reg.isr
        )
        part.update_registration(reg.leader, reg.leader_epoch, reg.replicas, reg.isr,
                                 reg.partition_epoch, self.log_manager.now_ms())
        self.partitions[tp] = part
        self._by_topic.setdefault(topic, []).append(part)
        if self.followers is not None:
            self.followers.partitions_changed((part,))

    def _detach(self, parts: list[Partition], reason: str) -> list[tuple[str, int]]:
        """Forget partitions that left this broker: stop following them, fail their acks=all
        waits and wake their waiting fetches (Kafka's ``stopPartitions``); return them for the
        log manager to delete."""
        gone: list[tuple[str, int]] = []
        for part in parts:
            if self.partitions.get(part.tp) is part:
                del self.partitions[part.tp]
                part.close(reason)
                gone.append((part.tp.topic, part.tp.partition))
        for topic in {t for t, _ in gone}:
            kept = [p for p in self._by_topic.pop(topic, ()) if not p.removed]
            if kept:
                self._by_topic[topic] = kept
        if self.followers is not None and gone:
            self.followers.partitions_removed(TopicPartition(t, p) for t, p in gone)
        return gone

    def _reconcile(
        self, image: MetadataImage, deleted_topics: Iterable[str],
        changed_topics: Iterable[str] | None = None,
    ) -> tuple[list[_NewPartition], list[tuple[str, int]]]:
        """Apply deletions and registration changes (``local_changes``); return the
        partitions that need a log and those whose log is to be deleted.

        ``changed_topics`` (from the metadata delta) limits the work to the topics a change
        touched, so creating one topic on a broker with thousands does not re-parse every
        topic's configuration; ``None`` (start-up) reconciles every topic."""
        configs = image.configs
        if changed_topics is None:
            topics = list(image.topics.by_name.values())
        else:
            topics = [t for n in changed_topics if (t := image.topics.by_name.get(n)) is not None]
        changes = local_changes(self.node_id, topics, self._by_topic, deleted_topics)
        gone = self._detach(changes.deletes, "is no longer hosted by this broker")
        if gone:
            log.info("deleting the logs of %d partitions no longer hosted here", len(gone))
        now = self.log_manager.now_ms()
        for part, reg in changes.updates:
            part.update_registration(reg.leader, reg.leader_epoch, reg.replicas, reg.isr,
                                     reg.partition_epoch, now)
        parsed: dict[frozenset[tuple[str, str]], LogConfig] = {}  # most topics share one
        topic_configs: dict[str, LogConfig] = {}
        for topic in topics:
            overrides = configs.topic_config(topic.name)
            key = frozenset(overrides.items())
            config = topic_configs[topic.name] = parsed.get(key) or parsed.setdefault(
                key, self.topic_config(topic.name, overrides))
            for part in self._by_topic.get(topic.name, ()):
                if part.log.config != config:
                    part.log.update_config(config)
        new: list[_NewPartition] = [
            (topic.name, index, topic_configs[topic.name], topic.topic_id, reg)
            for topic, index, reg in changes.creates]
        if self.followers is not None:  # it skips partitions whose leadership is unchanged
            self.followers.partitions_changed(
                p for t in topics for p in self._by_topic.get(t.name, ()))
        return new, gone

    def high_watermark(self, tp: tuple[str, int]) -> int | None:
        """A hosted partition's high watermark (None: not hosted), for the log manager's
        ``replication-offset-checkpoint`` and cleaner; safe from a worker thread (one dict
        lookup and one attribute read)."""
        part = self.partitions.get(tp)
        return None if part is None else part.high_watermark

    def get_partition(self, topic: str, partition: int) -> Partition | None:
        # A plain tuple hashes and compares equal to the TopicPartition key, without building
        # one (this runs for every partition of every produce and fetch).
        return self.partitions.get((topic, partition))

    def leader_partition(
        self, topic: str, partition: int, current_leader_epoch: int = -1
    ) -> Partition | ErrorCode:
        """The partition if this broker leads it at the client's ``current_leader_epoch``
        (-1: unchecked), else the error Kafka answers: UNKNOWN_TOPIC_OR_PARTITION,
        NOT_LEADER_OR_FOLLOWER, FENCED_LEADER_EPOCH or UNKNOWN_LEADER_EPOCH."""
        part = self.partitions.get((topic, partition))
        if part is None:
            # A partition of the cluster that another broker hosts: the client's metadata is
            # stale, as for a partition this broker follows (Kafka's answer).
            t = self._image.topics.by_name.get(topic) if self._image is not None else None
            if t is not None and partition in t.partitions:
                return ErrorCode.NOT_LEADER_OR_FOLLOWER
            return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
        if part.leader != self.node_id:
            return ErrorCode.NOT_LEADER_OR_FOLLOWER
        if current_leader_epoch >= 0 and current_leader_epoch != part.leader_epoch:
            return part.check_leader_epoch(current_leader_epoch)
        return part

    # -- offsets ---------------------------------------------------------------------------
    def fetch_offset_for_timestamp(
        self, topic: str, partition: int, current_leader_epoch: int, timestamp: int
    ) -> OffsetAndEpoch | ErrorCode:
        """ListOffsets for one partition (see ``Partition.fetch_offset_for_timestamp``)."""
        part = self.leader_partition(topic, partition, current_leader_epoch)
        if isinstance(part, ErrorCode):
            return part
        return part.fetch_offset_for_timestamp(timestamp)

    def end_offset_for_epoch(
        self, topic: str, partition: int, current_leader_epoch: int, leader_epoch: int
    ) -> tuple[int, int] | ErrorCode:
        """OffsetForLeaderEpoch for one partition: ``(epoch, end offset)``."""
        part = self.leader_partition(topic, partition, current_leader_epoch)
        if isinstance(part, ErrorCode):
            return part
        return part.end_offset_for_epoch(leader_epoch)

    def delete_records(
        self, topic: str, partition: int, offset: int, owed: list[Partition]
    ) -> int | ErrorCode:
        """DeleteRecords for one partition: the new low watermark. A partition whose segment
        files are to be removed is added to ``owed``, for ``run_deferred_io``."""
        part = self.leader_partition(topic, partition)
        if isinstance(part, ErrorCode):
            return part
        result = part.delete_records_before(offset)
        if isinstance(result, ErrorCode):
            return result
        low_watermark, io_owed = result
        if io_owed:
            owed.append(part)
        return low_watermark

    @staticmethod
    async def run_deferred_io(owed: Iterable[Partition]) -> None:
        """The file work DeleteRecords left owed, in a worker thread."""
        parts = list(owed)
        if parts:
            await asyncio.to_thread(_run_deferred_io, parts)

    # -- append ----------------------------------------------------------------------------
    def append(
        self, part: Partition, records: memoryview, required_acks: int, now_ms: int,
        validated: ValidatedBatches | None = None,
    ) -> AppendResult:
        """Validate and append one partition's batches as its leader; raises storage errors
        (and ``NotEnoughReplicasError``) for the caller to map.

        The result completes when the high watermark passes the records. When the append
        leaves ``flush.messages`` or more records unflushed (Kafka flushes in its append path
        then), the fsync runs in a worker thread and the high watermark follows it, so
        consumers never read the records earlier and acks=all answers after it. Otherwise the
        high watermark moves at once; a flush that a roll or an elapsed ``flush.ms`` calls for
        is started without waiting for it. With the default ``flush.messages`` this costs two
        integer comparisons per append."""
        part.check_enough_replicas(required_acks)
        plog = part.log
        if plog.flusher.failed is not None:
            raise LogDirError(f"{plog.dir} failed to flush: {plog.flusher.failed}")
        info = plog.append_as_leader(records, part.leader_epoch, now_ms, validated=validated)
        flusher = plog.flusher
        if plog.flush_due:
            durable = flusher.request(plog.log_end_offset, now_ms)
            reached: asyncio.Future[None] = durable.get_loop().create_future()

            def _on_durable(fut: asyncio.Future[None]) -> None:
                part.advance_high_watermark(plog.recovery_point)
                if reached.done():
                    return
                if fut.cancelled():
                    reached.cancel()
                elif (exc := fut.exception()) is not None:
                    reached.set_exception(exc)
                else:
                    reached.set_result(None)

            durable.add_done_callback(_on_durable)
            part.wake_follower_waiters()  # followers may copy what is not yet on disk here
            if required_acks == -1 and len(part.maximal_isr) > 1:
                replicated = part.wait_for_high_watermark(info.last_offset + 1)
                if replicated is not None:
                    return AppendResult(info, asyncio.ensure_future(_both(reached, replicated)))
            return AppendResult(info, reached)
        part.advance_high_watermark()
        if not flusher.busy:
            if plog.pending_flush_offset is not None:  # a roll: Kafka schedules this flush now
                flusher.request_background(plog.pending_flush_offset, now_ms)
            elif now_ms - plog.last_flush_ms >= plog.config.flush_ms and plog.unflushed_messages:
                flusher.request_background(plog.log_end_offset, now_ms)
        if required_acks == -1 and part.high_watermark <= info.last_offset:
            return AppendResult(info, part.wait_for_high_watermark(info.last_offset + 1))
        return AppendResult(info, None)

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
    def cold_segments(part: Partition, fetch_offset: int) -> list[LogSegment]:
        """Segments a read from ``fetch_offset`` would touch whose indexes are not loaded."""
        return part.log.cold_segments(fetch_offset)

    @staticmethod
    async def load_indexes(segments: Iterable[LogSegment]) -> None:
        """Load cold segments' indexes in a worker thread, not on the event loop."""
        await asyncio.to_thread(_load_indexes, list(segments))

    @staticmethod
    def wait_for_data(parts: Iterable[Partition], follower: bool = False) -> asyncio.Future[None]:
        """A future resolved by the next change that moves the high watermark of any of
        ``parts`` — or, for a follower, their log end (the caller applies its own timeout
        and re-reads)."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        for part in parts:
            part.add_waiter(fut, follower)
        return fut

    # -- followers and the ISR ---------------------------------------------------------------
    def _own_broker_epoch(self) -> int:
        image = self._image
        reg = image.cluster.brokers.get(self.node_id) if image is not None else None
        return reg.broker_epoch if reg is not None else -1

    def check_replica_epoch(self, replica_id: int, replica_epoch: int) -> ErrorCode:
        """A follower's fetch names the broker epoch it runs at (KIP-903): one older than
        its registration comes from a previous incarnation of that broker and is refused
        with NOT_LEADER_OR_FOLLOWER, as Kafka refuses a stale fetch-state update."""
        image = self._image
        reg = image.cluster.brokers.get(replica_id) if image is not None else None
        if reg is None:
            return ErrorCode.NONE  # not registered yet in this image: the partition decides
        if replica_epoch != -1 and replica_epoch < reg.broker_epoch:
            return ErrorCode.NOT_LEADER_OR_FOLLOWER
        return ErrorCode.NONE

    def _isr_eligible(self, part: Partition, replica_id: int) -> bool:
        """Kafka's ``isReplicaIsrEligible``: registered, unfenced, and fetching at the
        epoch it is registered with (a -1 epoch, from fetches before v15, is not checked)."""
        image = self._image
        reg = image.cluster.brokers.get(replica_id) if image is not None else None
        if reg is None or reg.fenced:
            return False
        state = part.remote.get(replica_id)
        return state is not None and state.broker_epoch in (-1, reg.broker_epoch)

    def record_follower_fetch(
        self, part: Partition, replica_id: int, replica_epoch: int, fetch_offset: int,
        leader_end_offset: int,
    ) -> bool:
        """A follower's fetch read from ``fetch_offset``: its progress moves the high
        watermark, and a follower that caught up is proposed for the ISR."""
        if not part.update_follower_fetch(replica_id, replica_epoch, fetch_offset,
                                          self.log_manager.now_ms(), leader_end_offset):
            return False
        new_isr = part.isr_to_expand(replica_id)
        if new_isr is not None and self._isr_eligible(part, replica_id):
            self.alter_partition.submit(part, new_isr, partial(self._member_epoch, part))
        return True

    def _member_epoch(self, part: Partition, broker_id: int) -> int:
        if broker_id == self.node_id:
            return self._own_broker_epoch()
        state = part.remote.get(broker_id)
        return state.broker_epoch if state is not None else -1

    def shrink_isrs(self) -> int:
        """The broker-wide lag check (every ``replica.lag.time.max.ms``/2): ISR members
        that have not caught up within the lag time are proposed for removal. One pass over
        the hosted partitions, skipping single-replica ones at the cost of a length test."""
        now = self.log_manager.now_ms()
        lag = self.replica_lag_time_max_ms
        proposed = 0
        for part in self.partitions.values():
            if len(part.isr) <= 1 or part.leader != self.node_id:
                continue
            new_isr = part.isr_to_shrink(now, lag)
            if new_isr is not None:
                log.info("%s: followers %s fell behind; shrinking the ISR to %s", part.tp,
                         [r for r in part.isr if r not in new_isr], list(new_isr))
                if self.alter_partition.submit(part, new_isr, partial(self._member_epoch, part)):
                    proposed += 1
        return proposed

    def fail_delayed_produces(self, reason: str) -> None:
        """A stopping broker answers every acks=all produce still waiting for its ISR (and
        its own coordinators' writes) NOT_LEADER_OR_FOLLOWER: its connections to followers
        are closed, so the high watermark will not move again, and nothing that waits on it
        may keep the process from exiting."""
        for part in self.partitions.values():
            if part.delayed_produces.heap:
                part.delayed_produces.fail_all(reason)

    async def run_isr_checks(self, stop: asyncio.Event, clock: Clock) -> None:
        """Run ``shrink_isrs`` every half lag time (on the broker's clock) until ``stop``."""
        interval = max(self.replica_lag_time_max_ms / 2000.0, 0.01)
        while not stop.is_set():
            try:
                await clock.wait_for(stop.wait(), interval)
            except TimeoutError:
                pass
            if not stop.is_set():
                self.shrink_isrs()


async def _both(durable: asyncio.Future[None], replicated: asyncio.Future[None]) -> None:
    """acks=all after an fsync the append asked for: both must complete. A failed fsync
    answers alone; the replication wait is then dropped (cancelled), not left to fail
    unobserved later."""
    try:
        await durable
    except BaseException:
        replicated.cancel()
        raise
    await replicated


def _run_deferred_io(parts: list[Partition]) -> None:
    for part in parts:
        part.run_deferred_io()


def _load_indexes(segments: list[LogSegment]) -> None:
    for segment in segments:
        segment.load_indexes()
