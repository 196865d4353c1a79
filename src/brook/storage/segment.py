"""Kafka's ``LogSegment``: one ``<base offset>.log`` file with its offset and time indexes.

The log file holds RecordBatch v2 bytes exactly as they were appended (validated and
offset-assigned by :class:`brook.storage.log.Log`). The segment adds the bookkeeping Kafka's
segment does: sparse index entries every ``index.interval.bytes``, the largest timestamp and
the offset it was seen at, and the timestamp that drives ``segment.ms`` rolling.

The bytes live in a :class:`brook.storage.file_records.FileRecords` (``self.log``, Kafka's
name), which owns the descriptor, the maps and the rules that keep large reads zero-copy,
small tail reads cheap, and truncation safe for readers still holding views.

Lifecycle: constructed by the log for each existing ``.log`` file at load and for each roll
(files are created on first write), appended to while it is the active segment,
``on_become_inactive`` at a roll, then read until retention calls ``delete`` or shutdown
calls ``close``. Nothing is read from disk until needed, so opening thousands of partitions
costs no I/O per inactive segment.

Concurrency: everything runs on the event-loop thread except :meth:`flush`, which may run in a
worker thread; the file and the indexes each guard what it touches, so the loop never waits
for an fsync.
"""

from __future__ import annotations

import mmap
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from brook.records.batch import (
    HEADER_SIZE,
    LOG_OVERHEAD,
    PARTITION_LEADER_EPOCH_OFFSET,
    BatchHeader,
    iter_batches,
    validate_batch,
)
from brook.records.errors import CorruptRecordError
from brook.records.record import decode_records
from brook.storage.abstract_index import IndexCorruptError
from brook.storage.file_records import SCAN_HEADER, FileRecords
from brook.storage.offset_index import OffsetIndex
from brook.storage.time_index import NO_TIMESTAMP, TimeIndex

__all__ = [
    "INDEX_FILE_SUFFIX",
    "LOG_FILE_SUFFIX",
    "TIME_INDEX_FILE_SUFFIX",
    "BatchCallback",
    "LogSegment",
    "SegmentRead",
    "TimestampAndOffset",
    "segment_file_name",
]

LOG_FILE_SUFFIX = ".log"
INDEX_FILE_SUFFIX = ".index"
TIME_INDEX_FILE_SUFFIX = ".timeindex"

_SCAN = SCAN_HEADER

BatchCallback = Callable[[memoryview, int, BatchHeader], None]


def segment_file_name(base_offset: int, suffix: str) -> str:
    """Kafka's file name: the base offset as 20 zero-padded digits, then the suffix."""
    return f"{base_offset:020d}{suffix}"


class SegmentRead(NamedTuple):
    """Whole batches read from one segment: where they start and views over their bytes."""

    position: int
    chunks: list[memoryview]
    size: int


class TimestampAndOffset(NamedTuple):
    """Kafka's ``TimestampAndOffset``: a record's timestamp, offset and batch leader epoch."""

    timestamp: int
    offset: int
    leader_epoch: int


class LogSegment:
    """One segment's files and in-memory state. Not thread-safe except :meth:`flush`."""

    def __init__(
        self,
        directory: Path,
        base_offset: int,
        *,
        index_interval_bytes: int,
        max_index_size: int,
        roll_jitter_ms: int,
        created_ms: int,
        file_suffix: str = "",
    ) -> None:
        """``file_suffix`` (Kafka's ``fileSuffix``) is appended to every file name: the log
        cleaner writes its output as ``.cleaned`` segments before swapping them in."""
        self.base_offset = base_offset
        self.log = FileRecords(
            directory / (segment_file_name(base_offset, LOG_FILE_SUFFIX) + file_suffix)
        )
        self.offset_index = OffsetIndex(
            directory / (segment_file_name(base_offset, INDEX_FILE_SUFFIX) + file_suffix),
            base_offset,
            max_index_size,
        )
        self.time_index = TimeIndex(
            directory / (segment_file_name(base_offset, TIME_INDEX_FILE_SUFFIX) + file_suffix),
            base_offset,
            max_index_size,
        )
        self.index_interval_bytes = index_interval_bytes
        self.roll_jitter_ms = roll_jitter_ms
        self.created_ms = created_ms
        self._bytes_since_last_index_entry = 0
        self._max_timestamp: int | None = None
        self._offset_of_max_timestamp = base_offset
        self._rolling_based_timestamp: int | None = None

    @property
    def log_path(self) -> Path:
        return self.log.path

    @property
    def size_bytes(self) -> int:
        """Bytes of whole batches in the log file."""
        return self.log.size_bytes

    # -- appends ---------------------------------------------------------------------------

    def append(
        self,
        data: memoryview,
        largest_offset: int,
        largest_timestamp: int,
        offset_of_max_timestamp: int,
    ) -> None:
        """Append offset-assigned batches with one write and add any due index entries."""
        length = len(data)
        if length == 0:
            return
        if not self.offset_index.can_append_offset(largest_offset):
            raise ValueError(f"offset {largest_offset} does not fit segment {self.base_offset}")
        start = self.log.append(data)
        self._load_max_timestamp()
        if self._bytes_since_last_index_entry + length <= self.index_interval_bytes:
            self._bytes_since_last_index_entry += length
            if largest_timestamp > self.max_timestamp_so_far:
                self._max_timestamp = largest_timestamp
                self._offset_of_max_timestamp = offset_of_max_timestamp
            return
        pos = 0
        for base_offset, batch_length, last_delta, max_ts in _iter_scan(data, length):
            size = batch_length + LOG_OVERHEAD
            self._account_batch(base_offset + last_delta, max_ts, start + pos, size)
            pos += size

    def _account_batch(
        self, last_offset: int, max_timestamp: int, position: int, size: int
    ) -> None:
        """Kafka's per-batch bookkeeping on append and recovery: max timestamp, index entries."""
        if max_timestamp > self.max_timestamp_so_far:
            self._max_timestamp = max_timestamp
            self._offset_of_max_timestamp = last_offset
        if self._bytes_since_last_index_entry > self.index_interval_bytes:
            self.offset_index.append(last_offset, position)
            self.time_index.maybe_append(self.max_timestamp_so_far, self._offset_of_max_timestamp)
            self._bytes_since_last_index_entry = 0
        self._bytes_since_last_index_entry += size

    # -- timestamps and rolling --------------------------------------------------------------

    def _load_max_timestamp(self) -> None:
        if self._max_timestamp is None:
            entry = self.time_index.last_entry
            self._max_timestamp = entry.timestamp
            self._offset_of_max_timestamp = entry.offset

    def _scan_max_timestamp_after_index(self) -> None:
        """Batches appended after the time index's last entry are not in it (an entry is
        written every ``index.interval.bytes``): read their headers so the largest timestamp
        (which retention goes by) covers them too."""
        assert self._max_timestamp is not None
        start = self.offset_index.lookup(self._offset_of_max_timestamp).position
        for _, header in self.log.batches_from(start):
            if header.max_timestamp > self._max_timestamp:
                self._max_timestamp = header.max_timestamp
                self._offset_of_max_timestamp = header.last_offset

    @property
    def max_timestamp_so_far(self) -> int:
        self._load_max_timestamp()
        assert self._max_timestamp is not None
        return self._max_timestamp

    @property
    def offset_of_max_timestamp_so_far(self) -> int:
        self._load_max_timestamp()
        return self._offset_of_max_timestamp

    @property
    def largest_timestamp(self) -> int:
        """The largest record timestamp, or the file's mtime when it has none (Kafka's rule)."""
        ts = self.max_timestamp_so_far
        return ts if ts >= 0 else self.log.last_modified_ms

    def _first_batch_timestamp(self) -> int:
        if self._rolling_based_timestamp is None and self.size_bytes >= HEADER_SIZE:
            self._rolling_based_timestamp = self.log.scan_header(0)[3]
        return (
            NO_TIMESTAMP if self._rolling_based_timestamp is None else self._rolling_based_timestamp
        )

    def time_waited_for_roll(self, now_ms: int, max_timestamp_in_messages: int) -> int:
        """Kafka's measure for ``segment.ms``: record time since the first batch, else wall time."""
        first = self._first_batch_timestamp()
        if first >= 0:
            return max_timestamp_in_messages - first
        return now_ms - self.created_ms

    def should_roll(
        self,
        *,
        messages_size: int,
        max_timestamp_in_messages: int,
        max_offset_in_messages: int,
        now_ms: int,
        segment_bytes: int,
        segment_ms: int,
    ) -> bool:
        """Kafka's ``LogSegment.shouldRoll``: size, time (with jitter), full indexes, offset range."""
        size = self.size_bytes
        if size == 0:
            return False
        return (
            size > segment_bytes - messages_size
            or self.time_waited_for_roll(now_ms, max_timestamp_in_messages)
            > segment_ms - self.roll_jitter_ms
            or self.offset_index.is_full
            or self.time_index.is_full
            or not self.offset_index.can_append_offset(max_offset_in_messages)
        )

    def on_become_inactive(self) -> None:
        """At a roll: record the final maximum timestamp so it survives a restart."""
        if self._max_timestamp is not None and self._max_timestamp >= 0:
            self.time_index.maybe_append(
                self._max_timestamp, self._offset_of_max_timestamp, skip_full_check=True
            )

    # -- reads -------------------------------------------------------------------------------

    def translate_offset(self, offset: int, starting_position: int = 0) -> tuple[int, int] | None:
        """(position, size) of the first batch whose last offset is >= ``offset``, or None."""
        size = self.size_bytes
        pos = max(self.offset_index.lookup(offset).position, starting_position)
        if pos + LOG_OVERHEAD > size:
            return None
        scan = self.log.scan_header
        while pos + LOG_OVERHEAD <= size:
            base, length, last_delta, _ = scan(pos)
            if base + last_delta >= offset:
                return pos, length + LOG_OVERHEAD
            pos += length + LOG_OVERHEAD
        return None

    def read(
        self,
        start_offset: int,
        max_bytes: int,
        max_position: int | None = None,
        min_one_batch: bool = False,
    ) -> SegmentRead | None:
        """Whole batches from the one holding ``start_offset``, at most ``max_bytes`` of them.

        ``max_position`` bounds the bytes that may be returned (the high watermark's position);
        ``min_one_batch`` returns the first batch even if it alone exceeds ``max_bytes`` (as
        Kafka does so consumers make progress). Returns None when no batch in this segment
        reaches ``start_offset``.
        """
        found = self.translate_offset(start_offset)
        if found is None:
            return None
        start, first_size = found
        size = self.size_bytes
        limit = size if max_position is None else min(max_position, size)
        if start >= limit:
            return SegmentRead(start, [], 0)
        limit = min(limit, start + max(0, max_bytes))
        if start + first_size > limit:
            if not min_one_batch:
                return SegmentRead(start, [], 0)
            end = start + first_size
        else:
            end = self._whole_batches_end(start, limit)
        return SegmentRead(start, [self.log.view(start, end)], end - start)

    def _whole_batches_end(self, start: int, limit: int) -> int:
        """The end of the last whole batch that ends at or before ``limit``, scanning from
        the index entry nearest below ``limit`` rather than from ``start``."""
        pos = max(start, self.offset_index.lookup_by_position(limit).position)
        scan = self.log.scan_header
        while pos + LOG_OVERHEAD <= limit:
            end = pos + scan(pos)[1] + LOG_OVERHEAD
            if end > limit:
                break
            pos = end
        return pos

    def read_next_offset(self) -> int:
        """The offset after the last batch: index's last entry, then a short header scan."""
        size = self.size_bytes
        pos = self.offset_index.lookup(self.offset_index.last_offset).position
        next_offset = self.base_offset
        while pos + HEADER_SIZE <= size:
            base, length, last_delta, _ = self.log.scan_header(pos)
            if pos + length + LOG_OVERHEAD > size:
                break
            next_offset = base + last_delta + 1
            pos += length + LOG_OVERHEAD
        return next_offset

    def find_offset_by_timestamp(
        self, timestamp: int, starting_offset: int
    ) -> TimestampAndOffset | None:
        """The first record at or after ``starting_offset`` whose timestamp is >= ``timestamp``.

        Not a hot path (ListOffsets): the batch found through the time index is decoded to
        find the exact record, as Kafka does.
        """
        entry = self.time_index.lookup(timestamp)
        found = self.translate_offset(max(entry.offset, starting_offset))
        if found is None:
            return None
        batches = self.log.batches_from(found[0])
        try:
            for pos, header in batches:
                if header.max_timestamp < timestamp or header.last_offset < starting_offset:
                    continue
                view = self.log.view(pos, pos + header.size)
                for record in decode_records(view, 0, verify=False):
                    if record.timestamp >= timestamp and record.offset >= starting_offset:
                        return TimestampAndOffset(
                            record.timestamp, record.offset, header.partition_leader_epoch
                        )
        finally:
            batches.close()
        return None

    def leader_epoch_at(self, offset: int) -> int:
        """The partition leader epoch stamped on the batch holding ``offset`` (-1 if none)."""
        found = self.translate_offset(offset)
        if found is None:
            return -1
        epoch = self.log.pread(4, found[0] + PARTITION_LEADER_EPOCH_OFFSET)
        return int.from_bytes(epoch, "big", signed=True)

    # -- recovery and truncation ---------------------------------------------------------------

    def sanity_check(self) -> None:
        """Raise :class:`IndexCorruptError` if the indexes cannot be trusted for this log."""
        if self.size_bytes > 0 and not self.offset_index.path.exists():
            raise IndexCorruptError(f"missing offset index {self.offset_index.path}")
        self.offset_index.sanity_check()
        self.time_index.sanity_check()
        if self.offset_index.entries and self.offset_index.entry(-1).position >= self.size_bytes:
            raise IndexCorruptError(f"offset index {self.offset_index.path} points past the log")

    def recover(
        self, on_batch: BatchCallback | None = None, max_message_bytes: int | None = None
    ) -> int:
        """Rebuild the indexes by scanning every batch; truncate at the first bad one.

        Each batch is validated (magic, lengths, CRC, offsets that move forward). The first
        invalid or incomplete batch and everything after it are cut off, as Kafka does.
        ``on_batch`` sees each valid batch (producer state and leader epochs are rebuilt from
        it). ``max_message_bytes``, when given, treats a larger batch as corrupt; the log
        leaves it unset because lowering ``max.message.bytes`` must not destroy data.
        Returns the number of bytes truncated.
        """
        self.offset_index.reset()
        self.time_index.reset()
        self._bytes_since_last_index_entry = 0
        self._max_timestamp = NO_TIMESTAMP
        self._offset_of_max_timestamp = self.base_offset
        self._rolling_based_timestamp = None
        self.log.reload_size()
        size = self.size_bytes
        valid = 0
        if size:
            mapping = mmap.mmap(self.log.fd(), size, access=mmap.ACCESS_READ)
            try:
                with memoryview(mapping) as view:
                    valid = self._recover_batches(view, on_batch, max_message_bytes)
            finally:
                mapping.close()
        if valid < size:
            self.log.truncate_to(valid)
        return size - valid

    def _recover_batches(
        self, view: memoryview, on_batch: BatchCallback | None, max_message_bytes: int | None
    ) -> int:
        valid = 0
        expected = self.base_offset
        try:
            for pos, header in iter_batches(view):
                validate_batch(view, pos, header)
                if header.base_offset < expected or not self.offset_index.can_append_offset(
                    header.last_offset
                ):
                    raise CorruptRecordError(f"batch at {pos} has offset {header.base_offset}")
                if max_message_bytes is not None and header.size > max_message_bytes:
                    raise CorruptRecordError(f"batch at {pos} exceeds {max_message_bytes} bytes")
                if on_batch is not None:
                    on_batch(view, pos, header)
                self._account_batch(header.last_offset, header.max_timestamp, pos, header.size)
                expected = header.next_offset
                valid = pos + header.size
        except CorruptRecordError:
            pass
        return valid

    def truncate_to(self, offset: int) -> int:
        """Remove the batch holding ``offset`` and everything after it; return bytes removed."""
        found = self.translate_offset(offset)
        if found is None:
            return 0
        position = found[0]
        self.offset_index.truncate_to(offset)
        self.time_index.truncate_to(offset)
        before = self.size_bytes
        self.log.truncate_to(position)
        self._bytes_since_last_index_entry = 0
        self._max_timestamp = None
        self._load_max_timestamp()
        self._scan_max_timestamp_after_index()
        if position == 0:
            self._rolling_based_timestamp = None
        return before - position

    # -- index loading ---------------------------------------------------------------------

    @property
    def indexes_loaded(self) -> bool:
        return self.offset_index.is_loaded and self.time_index.is_loaded

    def load_indexes(self) -> None:
        """Read both index files now. Safe from a worker thread (the indexes lock their
        loading), so the loop can have it done before a read opens this segment."""
        self.offset_index.load()
        self.time_index.load()

    # -- durability and teardown ---------------------------------------------------------------

    def flush(self) -> None:
        """fdatasync the log and write+fsync the indexes. Safe from a worker thread."""
        self.log.flush()
        self.offset_index.flush()
        self.time_index.flush()

    def close(self) -> None:
        """Record the final max timestamp, write the indexes and release the descriptor."""
        self.on_become_inactive()
        self.offset_index.close()
        self.time_index.close()
        self.log.close()

    def close_handlers(self) -> None:
        """Release the descriptor without writing anything (what a crash leaves behind)."""
        self.log.close()

    def delete(self) -> None:
        """Close and remove the files. Readers still holding views keep the inode alive."""
        self.log.delete()
        self.offset_index.delete()
        self.time_index.delete()

    def __repr__(self) -> str:
        return f"LogSegment(base_offset={self.base_offset}, size={self.log.size_bytes})"


def _iter_scan(
    buf: memoryview | mmap.mmap, end: int, pos: int = 0
) -> list[tuple[int, int, int, int]]:
    """(base_offset, batch_length, last_offset_delta, max_timestamp) of whole batches."""
    out = []
    unpack = _SCAN.unpack_from
    while pos + 43 <= end:
        scan = unpack(buf, pos)
        if pos + scan[1] + LOG_OVERHEAD > end:
            break
        out.append(scan)
        pos += scan[1] + LOG_OVERHEAD
    return out
