"""One partition's log: Kafka's ``UnifiedLog`` over a :class:`~brook.storage.local_log.LocalLog`.

The :class:`LocalLog` holds the segments of ``<topic>-<partition>``, the log end offset, the
recovery point and the directory's fsync debt. A ``Log`` adds what ``UnifiedLog`` adds: the
log start offset, producer state, the leader epoch cache, ``partition.metadata``, and the
policy of appends (validate, assign offsets by patching the request buffer, one write; a
follower's appends keep the leader's offsets and bytes),
retention, DeleteRecords (:mod:`brook.storage.log_retention`) and truncation.

Lifecycle: :meth:`Log.open` (loading, and recovery after an unclean shutdown, by
:mod:`brook.storage.log_loader`), appends/reads on the event loop, flushes from worker
threads, then :meth:`close` (indexes and a producer snapshot written) or :meth:`delete`.

Concurrency: the event-loop thread does everything except :meth:`flush` and
:meth:`run_deferred_io` (worker threads): appends, rolls and data removal never fsync, unlink
or write a snapshot on the loop (truncation, a follower's rare path, still does its file
work inline). Locks are held only for list changes, never across an fsync, so an append never
waits for a flush; ``_flush_lock`` serialises whole flushes and the queued file work.
Flushes come from the log manager (after a roll, by ``flush.ms``) and, once ``flush.messages``
is reached, from the append path through :attr:`flusher` (:mod:`brook.storage.log_flush`).
Data removal changes the segment list on the loop and queues the files' removal for
:meth:`run_deferred_io`; views already handed to sockets keep their maps.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from brook.storage import log_retention
from brook.storage.errors import (
    DuplicateSequenceError,
    LogDirError,
    OffsetOutOfRangeError,
    RecordBatchTooLargeError,
    UnexpectedAppendOffsetError,
)
from brook.storage.follower_records import FollowerBatches, validate_follower_records
from brook.storage.leader_epoch import LeaderEpochFileCache
from brook.storage.local_log import LocalLog
from brook.storage.log_config import LogConfig
from brook.storage.log_flush import LogFlusher
from brook.storage.log_loader import load_log
from brook.storage.log_types import FetchDataInfo, LogAppendInfo, LogOffsetMetadata
from brook.storage.log_validator import (
    ValidatedBatches,
    analyze_and_validate_records,
    assign_offsets,
    producer_headers_as_written,
)
from brook.storage.producer_state import AppendOrigin, ProducerStateManager
from brook.storage.segment import LogSegment, TimestampAndOffset

__all__ = ["EARLIEST_TIMESTAMP", "LATEST_TIMESTAMP", "MAX_TIMESTAMP", "Log"]

LATEST_TIMESTAMP = -1
EARLIEST_TIMESTAMP = -2
MAX_TIMESTAMP = -3


class Log:
    """A partition's log. Construct with :meth:`open`."""

    def __init__(
        self,
        local_log: LocalLog,
        config: LogConfig,
        *,
        log_start_offset: int,
        leader_epoch_cache: LeaderEpochFileCache,
        producer_state: ProducerStateManager,
        topic_id: bytes | None,
        now_ms: int,
    ) -> None:
        self._local = local_log
        self.dir = local_log.dir
        self._config = config
        self._log_start_offset = log_start_offset
        self._leader_epoch_cache = leader_epoch_cache
        self._producer_state = producer_state
        self.topic_id = topic_id
        self._io_lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._deferred_io: list[Callable[[], None]] = []
        self.flusher = LogFlusher(self)
        self._epoch_dirty = False
        """A leader append added a leader-epoch entry the checkpoint does not have yet."""
        self.last_flush_ms = now_ms
        self.closed = False
        self._clock_ms = now_ms
        """The latest time the log was told (for segments created by truncation)."""
        self.truncations = 0
        """How many times the log end moved back. A cleaning pass built in a worker thread
        is swapped in only if this did not change meanwhile (Kafka aborts cleaning around
        a truncation instead)."""
        self.checkpointed_high_watermark = 0
        """The high watermark ``replication-offset-checkpoint`` held for this log when it was
        opened, capped at its log end (0: none, or a new log). The partition starts from it,
        and it is checkpointed again while no partition is installed on the log."""

    @classmethod
    def open(
        cls,
        directory: Path,
        config: LogConfig,
        *,
        recovery_point: int,
        log_start_offset: int,
        clean_shutdown: bool,
        now_ms: int,
        topic_id: bytes | None = None,
        producer_id_expiration_ms: int | None = None,
    ) -> Log:
        """Load (and if needed recover) the partition directory; create it if missing.

        ``producer_id_expiration_ms``: producers idle that long are dropped from the loaded
        producer-state snapshot (Kafka's ``producer.id.expiration.ms``)."""
        directory = Path(directory)
        loaded = load_log(
            directory, config, recovery_point=recovery_point, log_start_offset=log_start_offset,
            clean_shutdown=clean_shutdown, now_ms=now_ms, topic_id=topic_id,
            producer_id_expiration_ms=producer_id_expiration_ms,
        )  # fmt: skip
        local = LocalLog(
            directory, config, loaded.segments, recovery_point=loaded.recovery_point,
            next_offset=loaded.next_offset, dir_dirty=loaded.dir_dirty,
        )  # fmt: skip
        return cls(
            local, config, log_start_offset=loaded.log_start_offset,
            leader_epoch_cache=loaded.leader_epoch_cache, producer_state=loaded.producer_state,
            topic_id=loaded.topic_id, now_ms=now_ms,
        )  # fmt: skip

    # -- state -------------------------------------------------------------------------------

    @property
    def config(self) -> LogConfig:
        return self._config

    def update_config(self, config: LogConfig) -> None:
        """New settings apply from the next append, roll or retention pass."""
        self._config = config
        self._local.update_config(config)

    @property
    def local_log(self) -> LocalLog:
        return self._local

    @property
    def log_start_offset(self) -> int:
        return self._log_start_offset

    @property
    def log_end_offset(self) -> int:
        return self._local.log_end_offset

    @property
    def recovery_point(self) -> int:
        return self._local.recovery_point

    @property
    def pending_flush_offset(self) -> int | None:
        """Set by a roll: the new segment's base offset, for the background flush."""
        return self._local.pending_flush_offset

    @property
    def unflushed_messages(self) -> int:
        return self._local.log_end_offset - self._local.recovery_point

    @property
    def flush_due(self) -> bool:
        """``flush.messages`` reached: Kafka flushes in the append path before answering."""
        return self._local.log_end_offset - self._local.recovery_point >= self._config.flush_messages

    @property
    def has_unflushed_files(self) -> bool:
        """A roll or a new leader epoch left a snapshot, a checkpoint, a directory entry or a
        segment to sync."""
        return (
            self._local.dir_dirty
            or self._epoch_dirty
            or self._local.pending_flush_offset is not None
            or self._producer_state.has_pending_snapshots
        )

    @property
    def size_bytes(self) -> int:
        return self._local.size_bytes

    @property
    def num_segments(self) -> int:
        return self._local.num_segments

    @property
    def active_segment(self) -> LogSegment:
        return self._local.active_segment

    @property
    def segments(self) -> list[LogSegment]:
        return self._local.segments

    @property
    def leader_epoch_cache(self) -> LeaderEpochFileCache:
        return self._leader_epoch_cache

    @property
    def producer_state(self) -> ProducerStateManager:
        return self._producer_state

    # -- appends -----------------------------------------------------------------------------

    def append_as_leader(
        self, records: memoryview, leader_epoch: int, now_ms: int, *,
        validated: ValidatedBatches | None = None,
    ) -> LogAppendInfo:
        """Validate and append a produce request's batches for this partition.

        ``records`` must be writable: base offsets, leader epochs and (LogAppendTime)
        timestamps are patched in place before the bytes are written with one write. Any
        error leaves the log unchanged. A retried idempotent batch is answered with the
        offsets it got the first time (``duplicate=True``) and nothing is written.
        ``validated``: the same check, already made (off the event loop, or by a caller
        with other validation rules).
        """
        config = self._config
        local = self._local
        self._clock_ms = now_ms
        batches = (
            analyze_and_validate_records(records, config) if validated is None else validated
        )
        records = batches.records  # a new buffer if compression.type rewrote batches
        if not batches:
            return LogAppendInfo(-1, -1, -1, self._log_start_offset, -1, -1, 0, 0)
        log_append_time = config.message_timestamp_type == "LogAppendTime"
        assigned = assign_offsets(
            records, batches, config,
            next_offset=local.log_end_offset, leader_epoch=leader_epoch, now_ms=now_ms,
        )  # fmt: skip
        if assigned.valid_bytes > config.segment_bytes:
            raise RecordBatchTooLargeError(
                f"{assigned.valid_bytes} bytes exceed segment.bytes {config.segment_bytes}"
            )
        append_time = now_ms if log_append_time else -1
        pending = None
        if any(header.producer_id >= 0 for _, header in batches):  # idempotent producer
            try:
                pending = self._producer_state.check_and_prepare(
                    producer_headers_as_written(batches, assigned.first_offset, append_time)
                )
            except DuplicateSequenceError as dup:
                return LogAppendInfo(
                    dup.first_offset, dup.last_offset, append_time, self._log_start_offset,
                    dup.timestamp, dup.last_offset, 0, 0, duplicate=True,
                )  # fmt: skip
        segment = local.active_segment
        if local.should_roll(
            assigned.valid_bytes, assigned.max_timestamp, assigned.last_offset, now_ms
        ):
            segment = self.roll(now_ms)
        local.append(
            segment,
            records[: assigned.valid_bytes],
            assigned.last_offset,
            assigned.max_timestamp,
            assigned.offset_of_max_timestamp,
        )
        if leader_epoch >= 0 and self._leader_epoch_cache.assign(
            leader_epoch, assigned.first_offset, flush=False
        ):
            self._epoch_dirty = True  # checkpointed by the next flush, off the event loop
        if pending:
            self._producer_state.update(pending)
        self._producer_state.update_map_end_offset(assigned.last_offset + 1)
        return LogAppendInfo(
            assigned.first_offset, assigned.last_offset, append_time, self._log_start_offset,
            assigned.max_timestamp, assigned.offset_of_max_timestamp, assigned.num_messages,
            assigned.valid_bytes,
        )  # fmt: skip

    def append_as_follower(
        self, records: memoryview, now_ms: int, *, validated: FollowerBatches | None = None
    ) -> LogAppendInfo:
        """Append batches fetched from the leader, keeping their offsets, epochs and bytes.

        The first batch must start at or after the log end (``UnexpectedAppendOffsetError``
        otherwise; a forward gap is a compacted leader's). Each batch's partition leader epoch
        feeds the leader-epoch cache and each idempotent batch the producer state, so a
        follower that becomes leader truncates by epoch and answers retries as the old leader
        would. ``validated``: :func:`validate_follower_records` already run (in a worker
        thread). Flushing is the caller's, as after ``append_as_leader``.
        """
        batches = validate_follower_records(records) if validated is None else validated
        if not batches:
            return LogAppendInfo(-1, -1, -1, self._log_start_offset, -1, -1, 0, 0)
        local = self._local
        first = batches[0][1]
        if first.base_offset < local.log_end_offset:
            raise UnexpectedAppendOffsetError(
                f"{self.dir.name}: fetched batches start at {first.base_offset}, below the "
                f"log end {local.log_end_offset}",
                first.base_offset, first.last_offset,
            )  # fmt: skip
        self._clock_ms = now_ms
        cache = self._leader_epoch_cache
        state = self._producer_state
        max_timestamp = offset_of_max_timestamp = -1
        num_messages = 0
        for group in batches.groups(self._config.segment_bytes):
            size = group.end - group.start
            segment = local.active_segment
            if local.should_roll(size, group.max_timestamp, group.last_offset, now_ms):
                segment = self.roll(now_ms)
            local.append(segment, records[group.start : group.end], group.last_offset,
                         group.max_timestamp, group.offset_of_max_timestamp)
            for header in group.headers:
                epoch = header.partition_leader_epoch
                if epoch >= 0 and cache.assign(epoch, header.base_offset, flush=False):
                    self._epoch_dirty = True  # checkpointed by the next flush
                if header.producer_id >= 0:
                    state.append_batch(header, AppendOrigin.REPLICATION)
                num_messages += header.records_count
            state.update_map_end_offset(group.last_offset + 1)
            if group.max_timestamp > max_timestamp:
                max_timestamp = group.max_timestamp
                offset_of_max_timestamp = group.offset_of_max_timestamp
        last = batches[-1][1]
        return LogAppendInfo(
            first.base_offset, last.last_offset, -1, self._log_start_offset, max_timestamp,
            offset_of_max_timestamp, num_messages, batches.valid_bytes,
        )  # fmt: skip

    def roll(self, now_ms: int) -> LogSegment:
        """Start a new active segment at the log end offset (Kafka's ``roll``)."""
        local = self._local
        active = local.active_segment
        new_offset = local.log_end_offset
        if active.base_offset == new_offset and active.size_bytes == 0:
            return active
        self._producer_state.update_map_end_offset(new_offset)
        # Encoded here, written (with its fsyncs) by the flush the roll schedules.
        self._producer_state.take_snapshot(sync=False)
        return local.roll(now_ms)

    # -- reads -------------------------------------------------------------------------------

    def read(
        self, fetch_offset: int, max_bytes: int, max_offset: int, min_one_batch: bool
    ) -> FetchDataInfo:
        """Whole batches from ``fetch_offset``, below ``max_offset`` (exclusive, the HW).

        Raises ``OffsetOutOfRangeError`` outside [log start, log end]. A read at the end (or
        at/after ``max_offset``) returns no chunks. Unlike Kafka, one read may continue into
        the following segments when the first one is exhausted and bytes remain.
        """
        local = self._local
        end = local.log_end_offset
        if fetch_offset < self._log_start_offset or fetch_offset > end:
            raise OffsetOutOfRangeError(
                f"offset {fetch_offset} is outside [{self._log_start_offset}, {end}] of {self.dir.name}"
            )
        if fetch_offset >= end or fetch_offset >= max_offset:
            return FetchDataInfo(LogOffsetMetadata(fetch_offset), [], 0)
        return local.read(fetch_offset, max_bytes, max_offset, min_one_batch)

    def cold_segments(self, fetch_offset: int) -> list[LogSegment]:
        """Segments a read at ``fetch_offset`` would open whose indexes are not in memory
        (the one holding the offset and the next, into which a read may continue): an old
        segment's index is read whole on first use, so callers on the event loop have
        ``LogSegment.load_indexes`` run in a worker thread first."""
        return self._local.cold_segments(fetch_offset)

    def fetch_offset_by_timestamp(self, timestamp: int) -> TimestampAndOffset | None:
        """ListOffsets: the first offset whose record timestamp is >= ``timestamp``.

        Also answers Kafka's special timestamps: -1 latest, -2 earliest, -3 max timestamp.
        """
        cache = self._leader_epoch_cache
        if timestamp == EARLIEST_TIMESTAMP:
            lso = self._log_start_offset
            return TimestampAndOffset(-1, lso, cache.epoch_for_offset(lso))
        if timestamp == LATEST_TIMESTAMP:
            return TimestampAndOffset(-1, self._local.log_end_offset, cache.latest_epoch)
        if timestamp == MAX_TIMESTAMP:
            return self.offset_of_max_timestamp()
        return self._local.find_offset_by_timestamp(timestamp, self._log_start_offset)

    def offset_of_max_timestamp(self) -> TimestampAndOffset:
        """The offset of the record with the largest timestamp, with its leader epoch."""
        return self._local.offset_of_max_timestamp(self._log_start_offset)

    # -- removing data (see brook.storage.log_retention) -------------------------------------

    def delete_old_segments(
        self, now_ms: int, *, high_watermark: int | None = None, defer_io: bool = False
    ) -> int:
        """Retention by ``retention.ms``, ``retention.bytes`` and the log start offset, only
        below ``high_watermark`` (default: the log end). Returns segments deleted.
        ``defer_io`` leaves the file removal to :meth:`run_deferred_io` (event-loop callers)."""
        self._clock_ms = now_ms
        deleted, self._log_start_offset = log_retention.delete_old_segments(
            self, now_ms, high_watermark
        )
        if not defer_io:
            self.run_deferred_io()
        return deleted

    def maybe_increment_log_start_offset(
        self, new_start: int, *, high_watermark: int | None = None, defer_io: bool = False
    ) -> bool:
        """DeleteRecords: raise the log start offset (it may land mid-segment) and delete the
        segments wholly below it. ``OffsetOutOfRangeError`` past ``high_watermark``/log end.
        ``defer_io`` as for :meth:`delete_old_segments`."""
        start = log_retention.increment_log_start_offset(
            self, new_start, high_watermark, self._clock_ms
        )
        if start is None:
            return False
        self._log_start_offset = start
        if not defer_io:
            self.run_deferred_io()
        return True

    def truncate_to(self, offset: int) -> bool:
        """Remove offsets >= ``offset`` (a follower diverged). False if no offset was removed
        (leader epochs starting at the log end still are).
        Queued file work runs first, so a queued unlink never hits a file a truncation
        recreated under the same name. At or past the log end the epoch cache still drops
        entries starting at the end: this broker led an epoch and appended nothing in it, an
        epoch the new leader never had (Kafka's ``truncateTo`` does the same)."""
        if offset < 0:
            raise ValueError(f"cannot truncate to negative offset {offset}")
        if offset >= self._local.log_end_offset:
            self._leader_epoch_cache.truncate_from_end(self._local.log_end_offset)
            return False
        self.run_deferred_io()
        if self._local.segments[0].base_offset > offset:
            self.truncate_fully_and_start_at(offset)
            return True
        self._log_start_offset = log_retention.truncate_to(self, offset, self._clock_ms)
        self.truncations += 1
        return True

    def truncate_fully_and_start_at(self, offset: int) -> None:
        """Empty the log and restart it at ``offset`` (a follower fell below the leader's start)."""
        self.truncations += 1
        self.run_deferred_io()
        self._local.truncate_fully_and_start_at(offset, self._clock_ms)
        self._log_start_offset = offset
        self._leader_epoch_cache.clear()
        self._producer_state.truncate_fully_and_start_at(offset)

    # -- durability --------------------------------------------------------------------------

    def flush(self, up_to: int | None = None, now_ms: int | None = None) -> None:
        """fsync segments holding offsets below ``up_to`` (default: everything) and advance
        the recovery point. Pending producer snapshots are written first (Kafka's order
        after a roll: the snapshot, then the segments). Safe to call from a worker thread
        while the loop appends; whole flushes of one log run one at a time. A log closed for
        deletion raises: its files are no longer its own (see ``close_handlers``)."""
        with self._flush_lock:
            if self.closed:
                raise LogDirError(f"{self.dir} is closed")
            self._producer_state.write_pending_snapshots()
            if self._epoch_dirty:  # before the recovery point passes the entry's offset
                self._epoch_dirty = False
                try:
                    self._leader_epoch_cache.flush()
                except BaseException:
                    self._epoch_dirty = True
                    raise
            self._local.flush(up_to)
            if now_ms is not None:
                self.last_flush_ms = now_ms

    def defer_io(self, work: Callable[[], None]) -> None:
        """Queue file work for :meth:`run_deferred_io` (event-loop thread)."""
        with self._io_lock:
            self._deferred_io.append(work)

    @property
    def has_deferred_io(self) -> bool:
        return bool(self._deferred_io)

    def run_deferred_io(self) -> None:
        """Do the file work queued by data removal, in order. Safe from a worker thread."""
        with self._flush_lock:
            with self._io_lock:
                work, self._deferred_io = self._deferred_io, []
            if self.closed:
                return  # dropped by close_handlers; a closed log's files are not its own
            for item in work:
                item()

    def remove_expired_producers(self, now_ms: int, producer_id_expiration_ms: int) -> list[int]:
        """Forget idempotent producers idle for ``producer.id.expiration.ms`` (Kafka's
        periodic ``removeExpiredProducers``); return their ids. Event-loop thread."""
        return self._producer_state.remove_expired_producers(now_ms, producer_id_expiration_ms)

    def close(self) -> None:
        """Write indexes and a producer-state snapshot, release descriptors."""
        if self.closed:
            return
        self.run_deferred_io()
        if self._epoch_dirty:
            self._epoch_dirty = False
            self._leader_epoch_cache.flush()
        self._producer_state.update_map_end_offset(self._local.log_end_offset)
        self._producer_state.take_snapshot()
        self._local.close()
        self.closed = True

    def close_handlers(self) -> None:
        """Release descriptors and write nothing (the log is being deleted). Views already
        handed out keep their maps. A flush or queued file work running in another thread
        is waited for, and work still queued is dropped: file work goes by path, and once the
        directory is renamed for deletion a new log of the same name may own those paths (a
        late unlink would remove its segment, a late checkpoint overwrite its epochs)."""
        with self._flush_lock:
            self.closed = True
            with self._io_lock:
                self._deferred_io = []
            self._local.close_handlers()

    def delete(self) -> None:
        """Close and remove every file of the partition, and the directory."""
        self._local.delete()
        self.closed = True
