"""The record-level half of the log cleaner: Kafka's ``OffsetMap`` and the cleaner's
``RecordFilter`` (``MemoryRecords.filterTo`` with ``LogCleaner``'s retention rules).

This is the only storage code that looks inside batches, and it runs only in the cleaner's
worker thread, never on the produce or fetch path (docs/architecture.md, Rules). Everything here is pure
computation over bytes read from segment files; it touches no ``Log`` or segment object.

Rules, as Kafka's cleaner applies them to each batch of the segments being rewritten:

* A record is kept if its offset is past the offset map's coverage (not yet deduplicated),
  or if it is the latest record of its key (offset >= the map's offset for that key) and
  either has a value or is a tombstone still inside its batch's delete horizon.
* Records with a null key are invalid in a compacted topic and are dropped (counted).
* A batch whose records all survive, and which needs no new delete horizon, is copied byte
  for byte. Otherwise it is rebuilt with the survivors, keeping their offsets (offset
  deltas), the batch's base offset, last offset delta, producer id/epoch/base sequence,
  partition leader epoch, timestamp type and compression codec.
* The first time a batch holding a tombstone is cleaned it gets a delete horizon (now +
  ``delete.retention.ms``) in its base timestamp and attribute bit; tombstones are removed
  by a later cleaning at or after that time. Consumers thus get ``delete.retention.ms`` to
  see a delete, counted from when the cleaner first saw it, as in Kafka (KIP-534).
* A batch left without records is dropped, unless it is the last batch of a producer that
  is still in the partition's producer state: that one is kept as an empty batch (header
  only, ``records_count`` 0) so the producer's last sequence number and epoch survive a
  reload of the producer state from the log.
* Control batches (transaction markers) are kept as they are. Kafka also removes markers
  of fully cleaned transactions and aborted transactional data; brook has no transactions
  yet, so there is nothing of the kind to remove.

Concurrency: an ``OffsetMap`` and a ``BatchFilter`` belong to one cleaning pass in one thread.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from brook.records.batch import (
    BATCH_HEADER,
    CONTROL_MASK,
    HEADER_SIZE,
    LOG_OVERHEAD,
    MAGIC,
    NO_TIMESTAMP,
    TIMESTAMP_TYPE_MASK,
    TRANSACTIONAL_MASK,
    BatchHeader,
    iter_batches,
    write_crc,
)
from brook.records.record import Record, build_batch, iter_batch_records

__all__ = [
    "MAX_CLEANED_BATCH_BYTES",
    "BatchFilter",
    "CleaningAbortedError",
    "FilterStats",
    "LastRecord",
    "OffsetMap",
    "empty_batch",
    "read_segment_batches",
]

MAX_CLEANED_BATCH_BYTES = 32 * 1024 * 1024
"""Most bytes the cleaner lets one compressed batch inflate to, what the leader accepts for the
default ``max.message.bytes`` (``log_validator.decompressed_limit``). A batch past it, or one
claiming more records than its size can hold, fails the pass (``CorruptRecordError``) rather
than being expanded: such a batch, written before the leader checked records, could
otherwise hold millions of records in a few kilobytes."""

OFFSET_MAP_ENTRY_OVERHEAD_BYTES = 100
"""Estimated memory of one map entry besides its key: the key's ``bytes`` header, the offset
``int`` and the dict slot. Kafka's map stores a 16-byte hash and an 8-byte offset per entry;
a Python dict of real keys costs more but cannot collide."""


class CleaningAbortedError(Exception):
    """The pass was asked to stop (shutdown, or the log went away); its output is discarded."""


class LastRecord(NamedTuple):
    """Kafka's ``LastRecord``: what the producer state says a producer wrote last."""

    last_data_offset: int
    """Last offset of the producer's last data batch, -1 if none is remembered."""
    producer_epoch: int


class OffsetMap:
    """Kafka's ``SkimpyOffsetMap``: key -> offset of its latest record in the dirty section.

    Bounded by ``memory_bytes`` (``log.cleaner.dedupe.buffer.size`` times
    ``log.cleaner.io.buffer.load.factor``), so a pass over a log with more distinct keys than
    fit stops early and the rest is cleaned by the next pass. ``latest_offset`` is the last
    offset covered: records after it were not deduplicated and are always kept.
    """

    def __init__(self, memory_bytes: int) -> None:
        self.memory_bytes = memory_bytes
        self.bytes_used = 0
        self.latest_offset = -1
        self._offsets: dict[bytes, int] = {}

    def __len__(self) -> int:
        return len(self._offsets)

    def put(self, key: bytes, offset: int) -> None:
        offsets = self._offsets
        if key not in offsets:
            self.bytes_used += len(key) + OFFSET_MAP_ENTRY_OVERHEAD_BYTES
        offsets[key] = offset

    def get(self, key: bytes) -> int:
        """The latest offset of ``key``, or -1 if the dirty section does not have it."""
        return self._offsets.get(key, -1)

    def can_take(self, records: int) -> bool:
        """Whether a batch of ``records`` more keys may still fit (an empty map takes any)."""
        if not self._offsets:
            return True
        estimate = records * (OFFSET_MAP_ENTRY_OVERHEAD_BYTES + 16)
        return self.bytes_used + estimate <= self.memory_bytes

    def add_batch(self, records: Iterable[Record], start_offset: int) -> None:
        """Map the keyed records of one batch at or after ``start_offset``."""
        for record in records:
            key = record.key
            if key is not None and record.offset >= start_offset:
                self.put(key, record.offset)


def read_segment_batches(
    fd: int, size: int, chunk_bytes: int, abort: threading.Event
) -> Iterator[tuple[memoryview, int, BatchHeader]]:
    """``(buffer, position, header)`` of each whole batch in the first ``size`` bytes of a
    segment file, read with ``pread`` in chunks of about ``chunk_bytes``.

    ``pread`` rather than a map: if the file is truncated underneath (a follower truncating
    its log), a read just comes back short, where touching a map past the new end would
    kill the process with SIGBUS. A short read ends the iteration; the swap then notices
    the truncation and discards the pass.
    """
    file_pos = 0
    want = chunk_bytes
    while file_pos + LOG_OVERHEAD <= size:
        if abort.is_set():
            raise CleaningAbortedError("cleaning aborted")
        data = os.pread(fd, min(want, size - file_pos), file_pos)
        view = memoryview(data)
        consumed = 0
        for pos, header in iter_batches(view):
            yield view, pos, header
            consumed = pos + header.size
        if consumed == 0:
            if len(data) < LOG_OVERHEAD:
                return
            batch_size = int.from_bytes(data[8:12], "big", signed=True) + LOG_OVERHEAD
            if batch_size <= len(data) or file_pos + batch_size > size:
                return
            want = batch_size  # one batch larger than a chunk: read exactly it
            continue
        file_pos += consumed
        want = chunk_bytes


def empty_batch(header: BatchHeader) -> bytearray:
    """A header-only copy of ``header`` (Kafka's ``DefaultRecordBatch.writeEmptyHeader``):
    same offsets, producer id, epoch, base sequence, leader epoch and max timestamp, no
    records, no compression, no base timestamp."""
    keep = TIMESTAMP_TYPE_MASK | TRANSACTIONAL_MASK | CONTROL_MASK
    buf = bytearray(HEADER_SIZE)
    BATCH_HEADER.pack_into(
        buf,
        0,
        header.base_offset,
        HEADER_SIZE - LOG_OVERHEAD,
        header.partition_leader_epoch,
        MAGIC,
        0,
        header.attributes & keep,
        header.last_offset_delta,
        NO_TIMESTAMP,
        header.max_timestamp,
        header.producer_id,
        header.producer_epoch,
        header.base_sequence,
        0,
    )
    write_crc(buf, 0, HEADER_SIZE)
    return buf


@dataclass(slots=True)
class FilterStats:
    """Counters of one pass (Kafka's ``CleanerStats``, the parts a filter sees)."""

    batches_read: int = 0
    batches_written: int = 0
    empty_batches_written: int = 0
    records_read: int = 0
    records_retained: int = 0
    tombstones_removed: int = 0
    invalid_records: int = 0
    bytes_read: int = 0
    bytes_written: int = 0


class BatchFilter:
    """Decides what survives of each batch and produces the bytes to write for it.

    ``now_ms`` is the pass's clock for delete horizons; ``last_records`` is a copy of the
    producer state taken on the event loop when the pass was planned.
    """

    def __init__(
        self,
        offset_map: OffsetMap,
        *,
        now_ms: int,
        delete_retention_ms: int,
        last_records: Mapping[int, LastRecord],
        stats: FilterStats,
    ) -> None:
        self.offset_map = offset_map
        self.now_ms = now_ms
        self.delete_retention_ms = delete_retention_ms
        self.last_records = last_records
        self.stats = stats

    def _is_last_batch_of_producer(self, header: BatchHeader) -> bool:
        last = self.last_records.get(header.producer_id)
        if last is None:
            return False
        if last.last_data_offset >= 0:
            return header.last_offset == last.last_data_offset
        return header.is_control and header.producer_epoch == last.producer_epoch

    def filter(
        self, view: memoryview, pos: int, header: BatchHeader
    ) -> memoryview | bytearray | None:
        """The bytes to write for the batch at ``pos`` of ``view``, or None to drop it."""
        stats = self.stats
        stats.batches_read += 1
        stats.bytes_read += header.size
        original = view[pos : pos + header.size]
        if header.is_control:
            stats.batches_written += 1
            return original
        # One record at a time, twice if needed: the first pass only counts, so a batch kept
        # whole (the common case) is never held as objects; the second collects the
        # survivors of a batch that must be rewritten.
        read = retained = 0
        tombstones = False
        for record in self._records(view, pos):
            read += 1
            if self._should_retain(header, record):
                retained += 1
                tombstones = tombstones or record.value is None
        stats.records_read += read
        stats.records_retained += retained
        if retained:
            stats.batches_written += 1
            set_horizon = tombstones and not header.has_delete_horizon
            if retained == read and not set_horizon:
                return original
            counted = (stats.invalid_records, stats.tombstones_removed)
            kept = [r for r in self._records(view, pos) if self._should_retain(header, r)]
            stats.invalid_records, stats.tombstones_removed = counted  # counted in pass one
            return self._rebuild(header, kept, set_horizon)
        if header.producer_id >= 0 and self._is_last_batch_of_producer(header):
            stats.batches_written += 1
            stats.empty_batches_written += 1
            return empty_batch(header)
        return None

    @staticmethod
    def _records(view: memoryview, pos: int) -> Iterator[Record]:
        return iter_batch_records(view, pos, max_decompressed_size=MAX_CLEANED_BATCH_BYTES)

    def _should_retain(self, header: BatchHeader, record: Record) -> bool:
        """Kafka's ``Cleaner.shouldRetainRecord`` for v2 batches."""
        offset_map = self.offset_map
        if record.offset > offset_map.latest_offset:
            return True
        key = record.key
        if key is None:
            self.stats.invalid_records += 1
            return False
        if record.offset < offset_map.get(key):
            return False
        if record.value is not None:
            return True
        if not header.has_delete_horizon or self.now_ms < header.base_timestamp:
            return True
        self.stats.tombstones_removed += 1
        return False

    def _rebuild(self, header: BatchHeader, kept: list[Record], set_horizon: bool) -> bytearray:
        """Kafka's ``buildRetainedRecordsInto``: the survivors at their original offsets."""
        if set_horizon:
            horizon: int | None = self.now_ms + self.delete_retention_ms
        elif header.has_delete_horizon:
            horizon = header.base_timestamp
        else:
            horizon = None
        base = header.base_offset
        return build_batch(
            [(r.key, r.value, r.headers, r.timestamp) for r in kept],
            base_offset=base,
            compression=header.compression,
            producer_id=header.producer_id,
            producer_epoch=header.producer_epoch,
            base_sequence=header.base_sequence,
            partition_leader_epoch=header.partition_leader_epoch,
            timestamp_type=header.timestamp_type,
            is_transactional=header.is_transactional,
            offset_deltas=[r.offset - base for r in kept],
            last_offset_delta=header.last_offset_delta,
            delete_horizon_ms=horizon,
        )
