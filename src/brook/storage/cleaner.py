"""Log compaction: Kafka's ``Cleaner``, one cleaning pass over one log.

A pass keeps, among the segments below the first uncleanable offset, only the latest record
of each key (see :mod:`brook.storage.cleaner_filter` for the record rules). Offsets of kept
records never change. It runs in three steps, so that the expensive middle one stays off
the event loop:

1. :meth:`Cleaner.prepare` (event loop): snapshot what the pass needs: the segments from the
   start of the log up to the first uncleanable offset, each with its own read-only file
   descriptor and size, the segment after each one, the producer state's last batches and
   the log's truncation count.
2. :meth:`Cleaner.build` (worker thread): Kafka's ``buildOffsetMap`` over the dirty section
   ``[first dirty, first uncleanable)``, then ``groupSegmentsBySize`` over the segments
   below the map's end and ``cleanSegments`` for each group: the surviving batches are
   written to a new segment ``<base>.log.cleaned`` (with ``.index.cleaned`` and
   ``.timeindex.cleaned``), fsynced, and given the mtime of the group's last segment (so
   time-based retention of ``compact,delete`` logs does not restart). The source files are
   read with ``pread`` through the descriptors taken in step 1, never through the
   segments' maps, so nothing the event loop does can pull pages from under the thread.
3. :meth:`Cleaner.swap` (event loop): Kafka's ``replaceSegments`` for each group whose
   segments are all still in the log (retention may have removed some meanwhile) and only
   if the log was neither truncated, closed nor switched away from ``compact``: rename
   ``.cleaned`` to ``.swap`` (the log file last: that rename commits the swap), rename the
   old segments' files ``.deleted`` (they are unlinked afterwards in a worker thread, since
   unlinking a large file takes milliseconds), rename ``.swap`` to the final names, and
   replace the segment objects under the log's lock (see :mod:`brook.storage.cleaner_swap`).
   Appends only touch the active segment, which is never cleaned, so produce never waits
   for a pass; a fetch sees either the old segments or the new ones, both valid compacted
   views with the same offsets.

Readers holding views of an old segment keep them: the old file is unlinked, never
truncated or overwritten, and its map lives until the last view goes.

Crash safety: the cleaned files are fsynced before any rename, and the swap's renames and
unlinks are made in an order that the loader can finish from any prefix
(:func:`~brook.storage.cleaner_swap.complete_interrupted_swaps`: a ``.log.swap`` replaces the old segments its offsets
cover, as Kafka's loader does; ``.cleaned`` files are deleted). The swap makes no fsync on
the event loop: like Kafka, it relies on the file system keeping directory operations in
order across a crash (journaling file systems such as ext4 and xfs do), and the directory
is fsynced by the next flush.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING

from brook.records.batch import read_batch_header
from brook.records.record import iter_batch_records
from brook.storage.cleaner_filter import (
    MAX_CLEANED_BATCH_BYTES,
    BatchFilter,
    CleaningAbortedError,
    FilterStats,
    LastRecord,
    OffsetMap,
    read_segment_batches,
)
from brook.storage.cleaner_swap import (
    CLEANED_FILE_SUFFIX,
    DELETED_FILE_SUFFIX,
    SWAP_FILE_SUFFIX,
    CleanedSegment,
    SourceSegment,
    complete_interrupted_swaps,
    replace_segments,
    still_in_log,
)
from brook.storage.segment import LogSegment

if TYPE_CHECKING:
    from brook.storage.log import Log

__all__ = [
    "CLEANED_FILE_SUFFIX",
    "DELETED_FILE_SUFFIX",
    "SWAP_FILE_SUFFIX",
    "CleanedSegment",
    "Cleaner",
    "CleanerConfig",
    "CleanerStats",
    "CleaningAbortedError",
    "CleaningPlan",
    "CleaningResult",
    "SourceSegment",
    "complete_interrupted_swaps",
]

_RELATIVE_OFFSET_MAX = 0x7FFFFFFF
_TIME_INDEX_ENTRY_BYTES = 12


@dataclass(frozen=True, slots=True)
class CleanerConfig:
    """Kafka's ``CleanerConfig``: the broker-wide ``log.cleaner.*`` settings."""

    enable: bool = True
    backoff_ms: int = 15_000
    dedupe_buffer_size: int = 128 * 1024 * 1024
    io_buffer_load_factor: float = 0.9
    io_buffer_size: int = 512 * 1024

    @classmethod
    def from_props(cls, props: Mapping[str, str]) -> CleanerConfig:
        default = cls()
        return cls(
            enable=props.get("log.cleaner.enable", "true").strip().lower() == "true",
            backoff_ms=int(props.get("log.cleaner.backoff.ms", default.backoff_ms)),
            dedupe_buffer_size=int(
                props.get("log.cleaner.dedupe.buffer.size", default.dedupe_buffer_size)
            ),
            io_buffer_load_factor=float(
                props.get("log.cleaner.io.buffer.load.factor", default.io_buffer_load_factor)
            ),
            io_buffer_size=int(props.get("log.cleaner.io.buffer.size", default.io_buffer_size)),
        )


@dataclass(slots=True)
class CleanerStats(FilterStats):
    """What one pass did. ``end_offset`` is the new first dirty offset (the cleaner
    checkpoint) when ``complete``; ``groups_aborted`` counts outputs thrown away because the
    log changed underneath."""

    first_dirty_offset: int = 0
    end_offset: int = 0
    map_records: int = 0
    groups_cleaned: int = 0
    groups_aborted: int = 0

    @property
    def complete(self) -> bool:
        return self.groups_aborted == 0


@dataclass(slots=True)
class CleaningPlan:
    """Everything :meth:`Cleaner.build` needs, taken on the event loop. The worker thread
    owns the descriptors once it starts and closes them (:meth:`close`) when done."""

    log_dir: Path
    now_ms: int
    first_dirty_offset: int
    first_uncleanable_offset: int
    truncations: int
    segment_bytes: int
    segment_index_bytes: int
    index_interval_bytes: int
    delete_retention_ms: int
    last_records: dict[int, LastRecord]
    sources: list[SourceSegment]

    def close(self) -> None:
        for source in self.sources:
            if source.fd >= 0:
                os.close(source.fd)
                source.fd = -1


@dataclass(slots=True)
class CleaningResult:
    """The output of :meth:`Cleaner.build`, to be swapped in (or discarded) on the loop."""

    plan: CleaningPlan
    cleaned: list[CleanedSegment]
    stats: CleanerStats = field(default_factory=CleanerStats)
    deleted_files: list[Path] = field(default_factory=list)
    """Replaced segments' files, renamed ``.deleted`` by the swap; unlinking a large file
    can take milliseconds, so :meth:`remove_deleted_files` runs off the event loop."""

    def discard(self) -> None:
        for cleaned in self.cleaned:
            cleaned.delete_files()

    def remove_deleted_files(self) -> None:
        """Unlink the replaced files (any thread; the loader removes them after a crash)."""
        for path in self.deleted_files:
            path.unlink(missing_ok=True)
        self.deleted_files = []


class Cleaner:
    """Kafka's ``Cleaner``: runs passes with one configuration.

    Stateless between passes apart from ``abort``, a flag the owner sets (from any thread)
    to make a running :meth:`build` stop at the next batch boundary. ``prepare`` and
    ``swap`` must run on the event-loop thread; ``build`` may run in any thread.
    """

    def __init__(self, config: CleanerConfig | None = None) -> None:
        self.config = config or CleanerConfig()
        self.abort = threading.Event()

    # -- step 1: event loop ---------------------------------------------------------------

    def prepare(
        self, log: Log, now_ms: int, first_dirty_offset: int, first_uncleanable_offset: int
    ) -> CleaningPlan | None:
        """Snapshot a pass over ``log``; None when no segment below the active one is
        dirty. Opens one descriptor per segment below ``first_uncleanable_offset``."""
        segments = log.segments
        if first_uncleanable_offset <= first_dirty_offset:
            return None
        sources: list[SourceSegment] = []
        plan = CleaningPlan(
            log_dir=log.dir,
            now_ms=now_ms,
            first_dirty_offset=first_dirty_offset,
            first_uncleanable_offset=first_uncleanable_offset,
            truncations=log.truncations,
            segment_bytes=log.config.segment_bytes,
            segment_index_bytes=log.config.segment_index_bytes,
            index_interval_bytes=log.config.index_interval_bytes,
            delete_retention_ms=log.config.delete_retention_ms,
            last_records={
                pid: LastRecord(entry.last_data_offset, entry.producer_epoch)
                for pid, entry in log.producer_state.active_producers.items()
            },
            sources=sources,
        )
        try:
            for segment, following in pairwise(segments):
                if segment.base_offset >= first_uncleanable_offset:
                    break
                fd = os.open(segment.log_path, os.O_RDONLY | os.O_CLOEXEC)
                sources.append(SourceSegment(segment, fd, segment.size_bytes, following))
        except BaseException:
            plan.close()
            raise
        if not sources or sources[-1].following.base_offset <= first_dirty_offset:
            plan.close()
            return None
        return plan

    # -- step 2: any thread ---------------------------------------------------------------

    def build(self, plan: CleaningPlan) -> CleaningResult:
        """Build the offset map and write the cleaned segments; closes the plan's
        descriptors. Raises ``CleaningAbortedError`` when aborted and
        ``CorruptRecordError`` for a batch that cannot be read (no output is left behind)."""
        stats = CleanerStats(first_dirty_offset=plan.first_dirty_offset)
        result = CleaningResult(plan, [], stats)
        try:
            memory = int(self.config.dedupe_buffer_size * self.config.io_buffer_load_factor)
            offset_map = OffsetMap(memory)
            end_offset = self._build_offset_map(plan, offset_map)
            offset_map.latest_offset = end_offset - 1
            stats.end_offset = end_offset
            stats.map_records = len(offset_map)
            batch_filter = BatchFilter(
                offset_map,
                now_ms=plan.now_ms,
                delete_retention_ms=plan.delete_retention_ms,
                last_records=plan.last_records,
                stats=stats,
            )
            cleanable = [s for s in plan.sources if s.segment.base_offset < end_offset]
            for group in self._group_segments_by_size(plan, cleanable):
                result.cleaned.append(self._clean_segments(plan, group, batch_filter))
        except BaseException:
            result.discard()
            raise
        finally:
            plan.close()
        return result

    def _build_offset_map(self, plan: CleaningPlan, offset_map: OffsetMap) -> int:
        """Map the keys of ``[first dirty, first uncleanable)``; return the offset mapping
        stopped at (earlier than the uncleanable offset if the map filled up)."""
        start, end = plan.first_dirty_offset, plan.first_uncleanable_offset
        chunk = self.config.io_buffer_size
        for source in plan.sources:
            if source.following.base_offset <= start:
                continue
            if source.segment.base_offset >= end:
                break
            for view, pos, header in read_segment_batches(
                source.fd, source.size, chunk, self.abort
            ):
                if header.last_offset < start:
                    continue
                if header.last_offset >= end:
                    return min(end, header.base_offset)
                if not offset_map.can_take(header.records_count):
                    return header.base_offset
                if not header.is_control:
                    offset_map.add_batch(
                        iter_batch_records(
                            view, pos, max_decompressed_size=MAX_CLEANED_BATCH_BYTES
                        ),
                        start,
                    )
        return end

    @staticmethod
    def _group_segments_by_size(
        plan: CleaningPlan, sources: list[SourceSegment]
    ) -> list[list[SourceSegment]]:
        """Kafka's ``groupSegmentsBySize``: runs of consecutive segments whose output fits
        one segment (``segment.bytes``, index size, 32-bit relative offsets)."""
        max_index_entries = plan.segment_index_bytes // _TIME_INDEX_ENTRY_BYTES
        interval = max(1, plan.index_interval_bytes)
        groups: list[list[SourceSegment]] = []
        current: list[SourceSegment] = []
        size = 0
        for source in sources:
            if current:
                grown = size + source.size
                last_offset = source.following.base_offset - 1
                if (
                    grown > plan.segment_bytes
                    or grown // interval + 2 > max_index_entries
                    or last_offset - current[0].segment.base_offset > _RELATIVE_OFFSET_MAX
                ):
                    groups.append(current)
                    current, size = [], 0
            current.append(source)
            size += source.size
        if current:
            groups.append(current)
        return groups

    def _clean_segments(
        self, plan: CleaningPlan, group: list[SourceSegment], batch_filter: BatchFilter
    ) -> CleanedSegment:
        """Kafka's ``cleanSegments``: write the group's survivors to one ``.cleaned`` segment."""
        cleaned = CleanedSegment(group[0].segment.base_offset, group, plan.log_dir)
        cleaned.delete_files()
        segment = LogSegment(
            plan.log_dir,
            cleaned.base_offset,
            index_interval_bytes=plan.index_interval_bytes,
            max_index_size=plan.segment_index_bytes,
            roll_jitter_ms=0,
            created_ms=plan.now_ms,
            file_suffix=CLEANED_FILE_SUFFIX,
        )
        try:
            writer = _SegmentWriter(segment, self.config.io_buffer_size, batch_filter.stats)
            chunk = self.config.io_buffer_size
            for source in group:
                for view, pos, header in read_segment_batches(
                    source.fd, source.size, chunk, self.abort
                ):
                    out = batch_filter.filter(view, pos, header)
                    if out is not None:
                        writer.add(out)
                writer.write()
            segment.log.fd()  # the file must exist even if nothing survived
            segment.on_become_inactive()
            segment.flush()
            mtime = os.fstat(group[-1].fd).st_mtime_ns
            os.utime(segment.log_path, ns=(mtime, mtime))
            segment.close()
        except BaseException:
            segment.delete()
            raise
        return cleaned

    # -- step 3: event loop ---------------------------------------------------------------

    def swap(self, log: Log, result: CleaningResult) -> CleanerStats:
        """Replace each group's segments with its cleaned segment, unless the log changed
        in a way that invalidates it; discarded outputs are deleted."""
        stats = result.stats
        plan = result.plan
        usable = not log.closed and log.config.compact and log.truncations == plan.truncations
        for cleaned in result.cleaned:
            if usable and still_in_log(log.local_log, cleaned.sources):
                result.deleted_files += replace_segments(log.local_log, cleaned, plan.now_ms)
                stats.groups_cleaned += 1
            else:
                cleaned.delete_files()
                stats.groups_aborted += 1
        return stats

    def clean(
        self, log: Log, now_ms: int, first_dirty_offset: int, first_uncleanable_offset: int
    ) -> CleanerStats | None:
        """All three steps in the calling thread (tests, tools): None if nothing to clean."""
        plan = self.prepare(log, now_ms, first_dirty_offset, first_uncleanable_offset)
        if plan is None:
            return None
        result = self.build(plan)
        stats = self.swap(log, result)
        result.remove_deleted_files()
        return stats


class _SegmentWriter:
    """Buffers surviving batches and appends them to the cleaned segment in large writes."""

    def __init__(self, segment: LogSegment, buffer_bytes: int, stats: FilterStats) -> None:
        self.segment = segment
        self.buffer_bytes = buffer_bytes
        self.stats = stats
        self.pending = bytearray()
        self.last_offset = -1
        self.max_timestamp = -1
        self.offset_of_max_timestamp = -1

    def add(self, batch: memoryview | bytearray) -> None:
        header = read_batch_header(batch)
        self.pending += batch
        self.last_offset = header.last_offset
        if header.max_timestamp > self.max_timestamp:
            self.max_timestamp = header.max_timestamp
            self.offset_of_max_timestamp = header.last_offset
        if len(self.pending) >= self.buffer_bytes:
            self.write()

    def write(self) -> None:
        if not self.pending:
            return
        self.segment.append(
            memoryview(self.pending),
            self.last_offset,
            self.max_timestamp,
            self.offset_of_max_timestamp,
        )
        self.stats.bytes_written += len(self.pending)
        self.pending = bytearray()
        self.max_timestamp = -1
