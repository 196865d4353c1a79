"""One partition's log: Kafka's ``UnifiedLog`` (with ``LocalLog`` folded in).

A ``Log`` owns the directory ``<topic>-<partition>``: its segments, producer state, leader
epoch cache and ``partition.metadata``. It appends produce requests as the leader (validate,
assign offsets by patching the request buffer, one write), serves reads as views into
segment maps, rolls segments, applies retention and DeleteRecords, truncates for
replication, and flushes.

Lifecycle: :meth:`Log.open` (loading and, after an unclean shutdown, recovery: see
:mod:`brook.storage.log_loader`), then appends/reads on the event loop, flushes from worker
threads, and finally :meth:`close` (indexes and a producer snapshot written) or
:meth:`delete`.

Concurrency: one event-loop thread does everything except :meth:`flush` and
:meth:`run_deferred_io`, which run in worker threads (``asyncio.to_thread``): appends, rolls
and data removal never fsync, unlink or write a snapshot on the loop (truncation, a
follower's rare path, still does its file work inline). ``_lock`` (a ``threading.Lock``) covers the segment
list, the recovery point and the deferred work; it is held only for list changes and
snapshots, never across an fsync, so an append never waits for a flush. ``_flush_lock``
serialises whole flushes of this log. Segments protect their own descriptors.

Flushing: the background task of the log manager flushes after a roll and by ``flush.ms``;
the append path asks :attr:`flusher` (:mod:`brook.storage.log_flush`) for a flush when
``flush.messages`` is reached, and the produce is answered only once it completes.

Removing data (retention, DeleteRecords) changes the segment list on the loop and leaves the
files (unlinks, the leader-epoch checkpoint, old producer snapshots) to
:meth:`run_deferred_io`; a removed segment is no longer reachable by new reads, and views
already handed to sockets keep their maps (an unlinked file stays readable through them).

Retention and truncation live in :mod:`brook.storage.log_retention` to keep this file small;
compaction lives in :mod:`brook.storage.cleaner`, which swaps cleaned segments into
``_segments`` under ``_lock`` on the event-loop thread.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from zlib import crc32

from brook.records.batch import LOG_APPEND_TIME, BatchHeader
from brook.storage import log_retention
from brook.storage.checkpoint import fsync_dir
from brook.storage.errors import (
    DuplicateSequenceError,
    OffsetOutOfRangeError,
    RecordBatchTooLargeError,
)
from brook.storage.leader_epoch import LeaderEpochFileCache
from brook.storage.log_config import LogConfig
from brook.storage.log_flush import LogFlusher
from brook.storage.log_segments import LogSegments
from brook.storage.log_types import FetchDataInfo, LogAppendInfo, LogOffsetMetadata
from brook.storage.log_validator import (
    ValidatedBatches,
    analyze_and_validate_records,
    assign_offsets,
)
from brook.storage.producer_state import ProducerStateManager
from brook.storage.segment import LogSegment, TimestampAndOffset

if TYPE_CHECKING:
    from brook.storage.cleaner import CleanerConfig, CleanerStats

__all__ = ["EARLIEST_TIMESTAMP", "LATEST_TIMESTAMP", "MAX_TIMESTAMP", "Log"]

LATEST_TIMESTAMP = -1
EARLIEST_TIMESTAMP = -2
MAX_TIMESTAMP = -3


class Log:
    """A partition's log. Construct with :meth:`open`."""

    def __init__(
        self,
        directory: Path,
        config: LogConfig,
        *,
        segments: LogSegments,
        log_start_offset: int,
        recovery_point: int,
        next_offset: int,
        leader_epoch_cache: LeaderEpochFileCache,
        producer_state: ProducerStateManager,
        topic_id: bytes | None,
        now_ms: int,
    ) -> None:
        self.dir = directory
        self._config = config
        self._segments = segments
        self._log_start_offset = log_start_offset
        self._recovery_point = recovery_point
        self._next_offset = next_offset
        self._leader_epoch_cache = leader_epoch_cache
        self._producer_state = producer_state
        self.topic_id = topic_id
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._deferred_io: list[Callable[[], None]] = []
        self.flusher = LogFlusher(self)
        self._dir_dirty = False
        self._epoch_dirty = False
        """A leader append added a leader-epoch entry the checkpoint does not have yet."""
        self.last_flush_ms = now_ms
        self.pending_flush_offset: int | None = None
        """Set by a roll: the new segment's base offset, to flush up to in the background
        (Kafka schedules the same flush when it rolls)."""
        self.closed = False
        self._clock_ms = now_ms
        """The latest time the log was told (for segments created by truncation)."""
        self.truncations = 0
        """How many times the log end moved back. A cleaning pass built in a worker thread
        is swapped in only if this did not change meanwhile (Kafka aborts cleaning around
        a truncation instead)."""

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
        from brook.storage.log_loader import load_log

        return load_log(
            cls,
            Path(directory),
            config,
            recovery_point=recovery_point,
            log_start_offset=log_start_offset,
            clean_shutdown=clean_shutdown,
            now_ms=now_ms,
            topic_id=topic_id,
            producer_id_expiration_ms=producer_id_expiration_ms,
        )

    # -- state -------------------------------------------------------------------------------

    @property
    def config(self) -> LogConfig:
        return self._config

    def update_config(self, config: LogConfig) -> None:
        """New settings apply from the next append, roll or retention pass."""
        self._config = config

    @property
    def log_start_offset(self) -> int:
        return self._log_start_offset

    @property
    def log_end_offset(self) -> int:
        return self._next_offset

    @property
    def recovery_point(self) -> int:
        return self._recovery_point

    @property
    def unflushed_messages(self) -> int:
        return self._next_offset - self._recovery_point

    @property
    def flush_due(self) -> bool:
        """``flush.messages`` reached: Kafka flushes in the append path before answering."""
        return self._next_offset - self._recovery_point >= self._config.flush_messages

    @property
    def has_unflushed_files(self) -> bool:
        """A roll or a new leader epoch left a snapshot, a checkpoint, a directory entry or a
        segment to sync."""
        return (
            self._dir_dirty
            or self._epoch_dirty
            or self.pending_flush_offset is not None
            or self._producer_state.has_pending_snapshots
        )

    @property
    def size_bytes(self) -> int:
        return sum(segment.size_bytes for segment in self._segments.values())

    @property
    def num_segments(self) -> int:
        return len(self._segments)

    @property
    def active_segment(self) -> LogSegment:
        return self._segments.last

    @property
    def segments(self) -> list[LogSegment]:
        return self._segments.values()

    @property
    def leader_epoch_cache(self) -> LeaderEpochFileCache:
        return self._leader_epoch_cache

    @property
    def producer_state(self) -> ProducerStateManager:
        return self._producer_state

    # -- appends -----------------------------------------------------------------------------

    def append_as_leader(
        self, records: memoryview, leader_epoch: int, now_ms: int, *, origin_client: bool = True,
        validated: ValidatedBatches | None = None,
    ) -> LogAppendInfo:
        """Validate and append a produce request's batches for this partition.

        ``records`` must be writable: base offsets, leader epochs and (LogAppendTime)
        timestamps are patched in place before the bytes are written with one write. Any
        error leaves the log unchanged. A retried idempotent batch is answered with the
        offsets it got the first time (``duplicate=True``) and nothing is written.
        """
        config = self._config
        self._clock_ms = now_ms
        batches = (  # ``validated``: the same check, already made off the event loop
            analyze_and_validate_records(records, config, origin_client=origin_client)
            if validated is None else validated
        )  # fmt: skip
        records = batches.records  # a new buffer if compression.type rewrote batches
        if not batches:
            return LogAppendInfo(-1, -1, -1, self._log_start_offset, -1, -1, 0, 0)
        log_append_time = config.message_timestamp_type == "LogAppendTime"
        assigned = assign_offsets(
            records, batches, config,
            next_offset=self._next_offset, leader_epoch=leader_epoch, now_ms=now_ms,
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
                    _producer_headers(batches, assigned.first_offset, append_time)
                )
            except DuplicateSequenceError as dup:
                return LogAppendInfo(
                    dup.first_offset, dup.last_offset, append_time, self._log_start_offset,
                    dup.timestamp, dup.last_offset, 0, 0, duplicate=True,
                )  # fmt: skip
        segment = self._maybe_roll(
            assigned.valid_bytes, assigned.max_timestamp, assigned.last_offset, now_ms
        )
        created = segment.size_bytes == 0
        segment.append(
            records[: assigned.valid_bytes],
            assigned.last_offset,
            assigned.max_timestamp,
            assigned.offset_of_max_timestamp,
        )
        if created:  # the append made the segment's file: its directory entry needs a sync
            with self._lock:
                self._dir_dirty = True
        self._next_offset = assigned.last_offset + 1
        if leader_epoch >= 0 and self._leader_epoch_cache.assign(
            leader_epoch, assigned.first_offset, flush=False
        ):
            self._epoch_dirty = True  # checkpointed by the next flush, off the event loop
        if pending:
            self._producer_state.update(pending)
        self._producer_state.update_map_end_offset(self._next_offset)
        return LogAppendInfo(
            assigned.first_offset, assigned.last_offset, append_time, self._log_start_offset,
            assigned.max_timestamp, assigned.offset_of_max_timestamp, assigned.num_messages,
            assigned.valid_bytes,
        )  # fmt: skip

    def _maybe_roll(
        self, messages_size: int, max_timestamp: int, max_offset: int, now_ms: int
    ) -> LogSegment:
        segment = self._segments.last
        config = self._config
        if segment.should_roll(
            messages_size=messages_size,
            max_timestamp_in_messages=max_timestamp,
            max_offset_in_messages=max_offset,
            now_ms=now_ms,
            segment_bytes=config.segment_bytes,
            segment_ms=config.segment_ms,
        ):
            return self.roll(now_ms)
        return segment

    def roll(self, now_ms: int) -> LogSegment:
        """Start a new active segment at the log end offset (Kafka's ``roll``)."""
        active = self._segments.last
        new_offset = self._next_offset
        if active.base_offset == new_offset and active.size_bytes == 0:
            return active
        active.on_become_inactive()
        self._producer_state.update_map_end_offset(new_offset)
        # Encoded here, written (with its fsyncs) by the flush the roll schedules.
        self._producer_state.take_snapshot(sync=False)
        segment = self.new_segment(new_offset, now_ms)
        with self._lock:
            self._segments.add(segment)
            self._dir_dirty = True
        self.pending_flush_offset = new_offset
        return segment

    def new_segment(self, base_offset: int, now_ms: int) -> LogSegment:
        """A segment object for ``base_offset`` with this log's settings (files made lazily)."""
        config = self._config
        jitter = 0
        if config.segment_jitter_ms > 0:
            bound = min(config.segment_jitter_ms, config.segment_ms)
            jitter = crc32(f"{self.dir.name}/{base_offset}".encode()) % bound
        return LogSegment(
            self.dir,
            base_offset,
            index_interval_bytes=config.index_interval_bytes,
            max_index_size=config.segment_index_bytes,
            roll_jitter_ms=jitter,
            created_ms=now_ms,
        )

    # -- reads -------------------------------------------------------------------------------

    def read(
        self, fetch_offset: int, max_bytes: int, max_offset: int, min_one_batch: bool
    ) -> FetchDataInfo:
        """Whole batches from ``fetch_offset``, below ``max_offset`` (exclusive, the HW).

        Raises ``OffsetOutOfRangeError`` outside [log start, log end]. A read at the end (or
        at/after ``max_offset``) returns no chunks. Unlike Kafka, one read may continue into
        the following segments when the first one is exhausted and bytes remain.
        """
        end = self._next_offset
        if fetch_offset < self._log_start_offset or fetch_offset > end:
            raise OffsetOutOfRangeError(
                f"offset {fetch_offset} is outside [{self._log_start_offset}, {end}] of {self.dir.name}"
            )
        if fetch_offset >= end or fetch_offset >= max_offset:
            return FetchDataInfo(LogOffsetMetadata(fetch_offset), [], 0)
        chunks: list[memoryview] = []
        total = 0
        metadata: LogOffsetMetadata | None = None
        offset = fetch_offset
        segment = self._segments.floor(offset)
        while segment is not None:
            next_base = self._segments.next_base_after(segment)
            max_position = None
            if max_offset < (end if next_base is None else next_base):
                bound = segment.translate_offset(max_offset)
                max_position = None if bound is None else bound[0]
            first = min_one_batch and not chunks
            result = segment.read(offset, max_bytes - total, max_position, first)
            if result is not None:
                if metadata is None:
                    metadata = LogOffsetMetadata(fetch_offset, segment.base_offset, result.position)
                chunks.extend(result.chunks)
                total += result.size
                if (
                    not result.chunks
                    or max_position is not None
                    or total >= max_bytes
                    or result.position + result.size < segment.size_bytes
                ):
                    break
            if next_base is None:
                break
            offset = next_base
            segment = self._segments.get(next_base)
        return FetchDataInfo(metadata or LogOffsetMetadata(fetch_offset), chunks, total)

    def cold_segments(self, fetch_offset: int) -> list[LogSegment]:
        """Segments a read at ``fetch_offset`` would open whose indexes are not in memory
        (the one holding the offset and the next, into which a read may continue): an old
        segment's index is read whole on first use, so callers on the event loop have
        ``LogSegment.load_indexes`` run in a worker thread first."""
        if fetch_offset >= self._segments.last.base_offset:
            return []  # the active segment (caught-up readers): its indexes are in memory
        segment = self._segments.floor(fetch_offset)
        if segment is None:
            return []
        cold = [segment] if not segment.indexes_loaded else []
        next_base = self._segments.next_base_after(segment)
        following = None if next_base is None else self._segments.get(next_base)
        if following is not None and not following.indexes_loaded:
            cold.append(following)
        return cold

    def fetch_offset_by_timestamp(self, timestamp: int) -> TimestampAndOffset | None:
        """ListOffsets: the first offset whose record timestamp is >= ``timestamp``.

        Also answers Kafka's special timestamps: -1 latest, -2 earliest, -3 max timestamp.
        """
        cache = self._leader_epoch_cache
        if timestamp == EARLIEST_TIMESTAMP:
            lso = self._log_start_offset
            return TimestampAndOffset(-1, lso, cache.epoch_for_offset(lso))
        if timestamp == LATEST_TIMESTAMP:
            return TimestampAndOffset(-1, self._next_offset, cache.latest_epoch)
        if timestamp == MAX_TIMESTAMP:
            return self.offset_of_max_timestamp()
        for segment in self._segments.values():
            if segment.largest_timestamp >= timestamp:
                found = segment.find_offset_by_timestamp(timestamp, self._log_start_offset)
                if found is not None:
                    return found
        return None

    def offset_of_max_timestamp(self) -> TimestampAndOffset:
        """The offset of the record with the largest timestamp (the first such record), with its
        leader epoch. Segments track the batch holding it; that batch is decoded to find the
        record, as Kafka does since ListOffsets v7 (MAX_TIMESTAMP) answers with the record."""
        best: LogSegment | None = None
        for segment in self._segments.values():
            if best is None or segment.max_timestamp_so_far > best.max_timestamp_so_far:
                best = segment
        if best is None or best.max_timestamp_so_far < 0:
            return TimestampAndOffset(-1, -1, -1)
        exact = best.find_offset_by_timestamp(best.max_timestamp_so_far, self._log_start_offset)
        if exact is not None:
            return exact
        offset = max(best.offset_of_max_timestamp_so_far, self._log_start_offset)
        return TimestampAndOffset(best.max_timestamp_so_far, offset, best.leader_epoch_at(offset))

    def iter_batch_headers(self, start_offset: int) -> Iterator[BatchHeader]:
        """Headers of every batch from the one holding ``start_offset`` (recovery, replay)."""
        for segment in self._segments.values_from(start_offset):
            found = segment.translate_offset(start_offset)
            if found is not None:
                for _, header in segment.log.batches_from(found[0]):
                    yield header

    # -- removing data (see brook.storage.log_retention) -------------------------------------

    def delete_old_segments(
        self, now_ms: int, *, high_watermark: int | None = None, defer_io: bool = False
    ) -> int:
        """Retention by ``retention.ms``, ``retention.bytes`` and the log start offset, only
        below ``high_watermark`` (default: the log end). Returns segments deleted.
        ``defer_io`` leaves the file removal to :meth:`run_deferred_io` (event-loop callers)."""
        self._clock_ms = now_ms
        return log_retention.delete_old_segments(self, now_ms, high_watermark, defer_io)

    def maybe_increment_log_start_offset(
        self, new_start: int, *, high_watermark: int | None = None, defer_io: bool = False
    ) -> bool:
        """DeleteRecords: raise the log start offset (it may land mid-segment) and delete the
        segments wholly below it. ``OffsetOutOfRangeError`` past ``high_watermark``/log end.
        ``defer_io`` as for :meth:`delete_old_segments`."""
        return log_retention.maybe_increment_log_start_offset(
            self, new_start, high_watermark, defer_io
        )

    def truncate_to(self, offset: int) -> bool:
        """Remove offsets >= ``offset`` (a follower diverged). False if nothing to remove."""
        truncated = log_retention.truncate_to(self, offset)
        self.truncations += truncated
        return truncated

    def truncate_fully_and_start_at(self, offset: int) -> None:
        """Empty the log and restart it at ``offset`` (a follower fell below the leader's start)."""
        self.truncations += 1
        log_retention.truncate_fully_and_start_at(self, offset, self._clock_ms)

    # -- compaction (see brook.storage.cleaner) ----------------------------------------------

    def clean(
        self,
        now_ms: int,
        *,
        first_dirty_offset: int | None = None,
        high_watermark: int | None = None,
        cleaner_config: CleanerConfig | None = None,
    ) -> CleanerStats | None:
        """Compact the log now, in the calling thread, whatever its dirty ratio.

        Kafka's rules apply (latest record per key below the active segment, the high
        watermark and ``min.compaction.lag.ms``; tombstones until their delete horizon).
        ``first_dirty_offset`` defaults to the log start: every record is deduplicated.
        The log manager instead runs passes in a worker thread from its background task.
        Returns None when there is nothing to clean.
        """
        from brook.storage.cleaner import Cleaner
        from brook.storage.cleaner_manager import cleanable_offsets

        self._clock_ms = now_ms
        dirty, uncleanable, _ = cleanable_offsets(self, first_dirty_offset, now_ms, high_watermark)
        return Cleaner(cleaner_config).clean(self, now_ms, dirty, uncleanable)

    # -- durability --------------------------------------------------------------------------

    def flush(self, up_to: int | None = None, now_ms: int | None = None) -> None:
        """fsync segments holding offsets below ``up_to`` (default: everything) and advance
        the recovery point. Pending producer snapshots are written first (Kafka's order
        after a roll: the snapshot, then the segments). Safe to call from a worker thread
        while the loop appends; whole flushes of one log run one at a time."""
        with self._flush_lock:
            self._producer_state.write_pending_snapshots()
            if self._epoch_dirty:  # before the recovery point passes the entry's offset
                self._epoch_dirty = False
                try:
                    self._leader_epoch_cache.flush()
                except BaseException:
                    self._epoch_dirty = True
                    raise
            with self._lock:
                target = self._next_offset if up_to is None else min(up_to, self._next_offset)
                segments = self._segments.values_from(self._recovery_point, target)
                dir_dirty, self._dir_dirty = self._dir_dirty, False
            try:
                if target > self._recovery_point or dir_dirty:
                    for segment in segments:
                        segment.flush()
                    if dir_dirty:
                        fsync_dir(self.dir)
            except BaseException:
                # A failed sync proves nothing: the directory entry stays owed to the next flush.
                if dir_dirty:
                    with self._lock:
                        self._dir_dirty = True
                raise
            with self._lock:
                self._recovery_point = max(self._recovery_point, min(target, self._next_offset))
                if self.pending_flush_offset is not None and self.pending_flush_offset <= target:
                    self.pending_flush_offset = None
            if now_ms is not None:
                self.last_flush_ms = now_ms

    def defer_io(self, work: Callable[[], None]) -> None:
        """Queue file work for :meth:`run_deferred_io` (event-loop thread)."""
        with self._lock:
            self._deferred_io.append(work)

    @property
    def has_deferred_io(self) -> bool:
        return bool(self._deferred_io)

    def run_deferred_io(self) -> None:
        """Do the file work queued by data removal, in order. Safe from a worker thread."""
        with self._flush_lock:
            with self._lock:
                work, self._deferred_io = self._deferred_io, []
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
        self._producer_state.update_map_end_offset(self._next_offset)
        self._producer_state.take_snapshot()
        for segment in self._segments.values():
            segment.close()
        self.closed = True

    def close_handlers(self) -> None:
        """Release descriptors and write nothing (the log is being deleted). Event loop;
        views already handed out keep their maps."""
        self.closed = True
        for segment in self._segments.values():
            segment.close_handlers()

    def delete(self) -> None:
        """Close and remove every file of the partition, and the directory."""
        with self._lock:
            segments = self._segments.values()
        for segment in segments:
            segment.delete()
        for path in self.dir.iterdir() if self.dir.exists() else ():
            path.unlink(missing_ok=True)
        if self.dir.exists():
            os.rmdir(self.dir)
        self.closed = True


def _producer_headers(
    batches: list[tuple[int, BatchHeader]], first_offset: int, append_time: int
) -> Iterator[BatchHeader]:
    """Idempotent batches' headers as written: assigned base offset (and append time)."""
    offset = first_offset
    for _, header in batches:
        if header.producer_id >= 0:
            patched = header._replace(base_offset=offset)
            if append_time >= 0:
                patched = patched._replace(
                    max_timestamp=append_time, attributes=header.attributes | (LOG_APPEND_TIME << 3)
                )
            yield patched
        offset += header.last_offset_delta + 1
