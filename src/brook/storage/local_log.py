"""Kafka's ``LocalLog``: one partition's segments on local disk and the offsets they define.

:class:`LocalLog` owns the directory's segment list, the log end offset (the next offset to
assign), the recovery point (everything below it fsynced) and whether the directory itself
owes an fsync (a segment file was created or removed since the last flush). It knows
nothing of producers, leader epochs or the log start offset: those belong to
:class:`brook.storage.log.Log`, which appends through it and decides *what* to roll,
remove or truncate. Loading (:mod:`brook.storage.log_loader`) builds the segment list it
starts from, retention (:mod:`brook.storage.log_retention`) and the cleaner's swap
(:mod:`brook.storage.cleaner_swap`) change it through the methods here, never its fields.

Concurrency: the event-loop thread makes every change; :meth:`flush` runs in worker threads.
``_lock`` covers the segment list, the recovery point, the directory's debt and the pending
flush offset; it is held only for those changes and for snapshots of the list, never across
an fsync, so an append never waits for a flush. Segments protect their own descriptors.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from zlib import crc32

from brook.records.batch import BatchHeader
from brook.storage.checkpoint import fsync_dir
from brook.storage.log_config import LogConfig
from brook.storage.log_segments import LogSegments
from brook.storage.log_types import FetchDataInfo, LogOffsetMetadata
from brook.storage.segment import LogSegment, TimestampAndOffset

__all__ = ["LocalLog", "iter_batch_headers", "new_segment"]


def new_segment(directory: Path, config: LogConfig, base_offset: int, now_ms: int) -> LogSegment:
    """A segment object for ``base_offset`` with ``config``'s settings (files made lazily).
    The roll jitter is a hash of the name, so a reloaded segment keeps the one it had."""
    jitter = 0
    if config.segment_jitter_ms > 0:
        bound = min(config.segment_jitter_ms, config.segment_ms)
        jitter = crc32(f"{directory.name}/{base_offset}".encode()) % bound
    return LogSegment(
        directory,
        base_offset,
        index_interval_bytes=config.index_interval_bytes,
        max_index_size=config.segment_index_bytes,
        roll_jitter_ms=jitter,
        created_ms=now_ms,
    )


def iter_batch_headers(segments: LogSegments, start_offset: int) -> Iterator[BatchHeader]:
    """Headers of every batch from the one holding ``start_offset`` (recovery, replay)."""
    for segment in segments.values_from(start_offset):
        found = segment.translate_offset(start_offset)
        if found is not None:
            for _, header in segment.log.batches_from(found[0]):
                yield header


class LocalLog:
    """A partition's segments and local offsets. Built by :meth:`brook.storage.log.Log.open`
    from what the loader found."""

    def __init__(
        self,
        directory: Path,
        config: LogConfig,
        segments: LogSegments,
        *,
        recovery_point: int,
        next_offset: int,
        dir_dirty: bool,
    ) -> None:
        self.dir = directory
        self._config = config
        self._segments = segments
        self._recovery_point = recovery_point
        self._next_offset = next_offset
        self._dir_dirty = dir_dirty
        self._pending_flush_offset: int | None = None
        self._lock = threading.Lock()

    # -- state -------------------------------------------------------------------------------

    def update_config(self, config: LogConfig) -> None:
        self._config = config

    @property
    def log_end_offset(self) -> int:
        return self._next_offset

    @property
    def recovery_point(self) -> int:
        return self._recovery_point

    @property
    def dir_dirty(self) -> bool:
        """A segment file was created or removed and the directory is not yet synced."""
        return self._dir_dirty

    @property
    def pending_flush_offset(self) -> int | None:
        """Set by a roll: the new segment's base offset, to flush up to in the background
        (Kafka schedules the same flush when it rolls)."""
        return self._pending_flush_offset

    @property
    def segments(self) -> list[LogSegment]:
        return self._segments.values()

    @property
    def num_segments(self) -> int:
        return len(self._segments)

    @property
    def active_segment(self) -> LogSegment:
        return self._segments.last

    @property
    def size_bytes(self) -> int:
        return sum(segment.size_bytes for segment in self._segments.values())

    def segment(self, base_offset: int) -> LogSegment | None:
        """The segment based at ``base_offset`` if it is in the log."""
        return self._segments.get(base_offset)

    def new_segment(self, base_offset: int, now_ms: int) -> LogSegment:
        return new_segment(self.dir, self._config, base_offset, now_ms)

    # -- appends -----------------------------------------------------------------------------

    def append(
        self,
        segment: LogSegment,
        records: memoryview,
        last_offset: int,
        max_timestamp: int,
        offset_of_max_timestamp: int,
    ) -> None:
        """Write assigned batches to ``segment`` (the active one) and move the log end."""
        created = segment.size_bytes == 0
        segment.append(records, last_offset, max_timestamp, offset_of_max_timestamp)
        if created:  # the append made the segment's file: its directory entry needs a sync
            with self._lock:
                self._dir_dirty = True
        self._next_offset = last_offset + 1

    def should_roll(
        self, messages_size: int, max_timestamp: int, max_offset: int, now_ms: int
    ) -> bool:
        """The next append must go to a new segment (size, age or index limits)."""
        config = self._config
        return self._segments.last.should_roll(
            messages_size=messages_size,
            max_timestamp_in_messages=max_timestamp,
            max_offset_in_messages=max_offset,
            now_ms=now_ms,
            segment_bytes=config.segment_bytes,
            segment_ms=config.segment_ms,
        )

    def roll(self, now_ms: int) -> LogSegment:
        """Start a new active segment at the log end and schedule a flush up to it. The
        caller checked that the active segment is not an empty one at the log end."""
        self._segments.last.on_become_inactive()
        new_offset = self._next_offset
        segment = self.new_segment(new_offset, now_ms)
        with self._lock:
            self._segments.add(segment)
            self._dir_dirty = True
            self._pending_flush_offset = new_offset
        return segment

    # -- reads -------------------------------------------------------------------------------

    def read(
        self, fetch_offset: int, max_bytes: int, max_offset: int, min_one_batch: bool
    ) -> FetchDataInfo:
        """Whole batches from ``fetch_offset`` (in range, below the end and ``max_offset``),
        continuing into the following segments while bytes remain."""
        end = self._next_offset
        chunks: list[memoryview] = []
        total = 0
        metadata: LogOffsetMetadata | None = None
        offset = fetch_offset
        segments = self._segments
        segment = segments.floor(offset)
        while segment is not None:
            next_base = segments.next_base_after(segment)
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
            segment = segments.get(next_base)
        return FetchDataInfo(metadata or LogOffsetMetadata(fetch_offset), chunks, total)

    def cold_segments(self, fetch_offset: int) -> list[LogSegment]:
        """Segments a read at ``fetch_offset`` would open whose indexes are not in memory."""
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

    def find_offset_by_timestamp(
        self, timestamp: int, log_start_offset: int
    ) -> TimestampAndOffset | None:
        for segment in self._segments.values():
            if segment.largest_timestamp >= timestamp:
                found = segment.find_offset_by_timestamp(timestamp, log_start_offset)
                if found is not None:
                    return found
        return None

    def offset_of_max_timestamp(self, log_start_offset: int) -> TimestampAndOffset:
        """The first record with the largest timestamp. Segments track the batch holding it;
        that batch is decoded to find the record, as Kafka does since ListOffsets v7."""
        best: LogSegment | None = None
        for segment in self._segments.values():
            if best is None or segment.max_timestamp_so_far > best.max_timestamp_so_far:
                best = segment
        if best is None or best.max_timestamp_so_far < 0:
            return TimestampAndOffset(-1, -1, -1)
        exact = best.find_offset_by_timestamp(best.max_timestamp_so_far, log_start_offset)
        if exact is not None:
            return exact
        offset = max(best.offset_of_max_timestamp_so_far, log_start_offset)
        return TimestampAndOffset(best.max_timestamp_so_far, offset, best.leader_epoch_at(offset))

    def iter_batch_headers(self, start_offset: int) -> Iterator[BatchHeader]:
        return iter_batch_headers(self._segments, start_offset)

    # -- changing the segment list -----------------------------------------------------------

    def remove_segments(self, segments: list[LogSegment]) -> None:
        """Drop segments from the list (retention); their files are the caller's to delete."""
        with self._lock:
            for segment in segments:
                self._segments.remove(segment.base_offset)
            self._dir_dirty = True

    def replace_segments(self, new_segment: LogSegment, old_segments: list[LogSegment]) -> None:
        """Put ``new_segment`` in place of ``old_segments`` (the cleaner's swap)."""
        with self._lock:
            for old in old_segments:
                self._segments.remove(old.base_offset)
            self._segments.add(new_segment)
            self._dir_dirty = True

    def truncate_to(self, target: int) -> int:
        """Remove offsets >= ``target``, which lies in or after the first segment, deleting
        the files of the segments wholly past it. Returns the new log end offset."""
        with self._lock:
            removed = [
                self._segments.remove(s.base_offset)
                for s in self._segments.values()
                if s.base_offset > target
            ]
            self._dir_dirty = True
        for segment in reversed(removed):
            segment.delete()
        active = self._segments.last
        # The new end is the base offset of the batch holding the target (whole batches go),
        # or the target when no batch holds it. It is not read back from what remains: a power
        # failure can empty a segment yet keep a later one, leaving offsets below the target
        # unused, and reading back would put the end at the segment's base, below the log start.
        found = active.translate_offset(target)
        next_offset = active.log.scan_header(found[0])[0] if found is not None else None
        active.truncate_to(target)
        if next_offset is None:
            next_offset = max(active.read_next_offset(), target)
        with self._lock:
            self._next_offset = next_offset
            self._recovery_point = min(self._recovery_point, next_offset)
        return next_offset

    def truncate_fully_and_start_at(self, offset: int, now_ms: int) -> None:
        """Delete every segment and restart, empty, at ``offset``."""
        with self._lock:
            removed = self._segments.values()
            for segment in removed:
                self._segments.remove(segment.base_offset)
        for segment in removed:
            segment.delete()
        with self._lock:
            self._segments.add(self.new_segment(offset, now_ms))
            self._next_offset = offset
            self._recovery_point = offset
            self._dir_dirty = True
            self._pending_flush_offset = None

    # -- durability --------------------------------------------------------------------------

    def flush(self, up_to: int | None) -> None:
        """fsync the segments holding offsets in [recovery point, ``up_to``) (default: the
        log end) and the directory if it owes a sync; advance the recovery point. The
        caller serialises whole flushes; appends go on meanwhile."""
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
            if self._pending_flush_offset is not None and self._pending_flush_offset <= target:
                self._pending_flush_offset = None

    def close(self) -> None:
        for segment in self._segments.values():
            segment.close()

    def close_handlers(self) -> None:
        for segment in self._segments.values():
            segment.close_handlers()

    def delete(self) -> None:
        """Remove every segment, every other file of the partition, and the directory."""
        with self._lock:
            segments = self._segments.values()
        for segment in segments:
            segment.delete()
        for path in self.dir.iterdir() if self.dir.exists() else ():
            path.unlink(missing_ok=True)
        if self.dir.exists():
            os.rmdir(self.dir)
