"""A producer's state entry and the snapshot file that persists all of them.

Split from ``producer_state`` so the manager's append logic and the on-disk format can be
read separately; ``producer_state`` re-exports everything here.
"""

from __future__ import annotations

import os
import re
import struct
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from brook.records.batch import NO_PRODUCER_EPOCH, NO_SEQUENCE, BatchHeader, decrement_sequence
from brook.records.crc import crc32c
from brook.storage.checkpoint import atomic_write
from brook.storage.errors import StorageError

__all__ = [
    "NUM_BATCHES_TO_RETAIN",
    "SNAPSHOT_SUFFIX",
    "BatchMetadata",
    "CorruptSnapshotError",
    "ProducerStateEntry",
    "encode_snapshot",
    "list_snapshot_offsets",
    "read_snapshot",
    "snapshot_path",
    "write_snapshot",
]

NUM_BATCHES_TO_RETAIN = 5
"""Kafka's limit on in-flight batches per idempotent producer, hence on batches remembered."""
SNAPSHOT_SUFFIX = ".snapshot"
_SNAPSHOT_NAME = re.compile(r"^(\d{20})\.snapshot$")


@dataclass(frozen=True, slots=True)
class BatchMetadata:
    """What is remembered of one appended batch (Kafka's ``BatchMetadata``)."""

    last_seq: int
    last_offset: int
    offset_delta: int
    timestamp: int

    @property
    def first_seq(self) -> int:
        return decrement_sequence(self.last_seq, self.offset_delta)

    @property
    def first_offset(self) -> int:
        return self.last_offset - self.offset_delta


@dataclass(slots=True)
class ProducerStateEntry:
    """One producer's state in this partition (Kafka's ``ProducerStateEntry``)."""

    producer_id: int
    producer_epoch: int = NO_PRODUCER_EPOCH
    coordinator_epoch: int = -1
    last_timestamp: int = -1
    current_txn_first_offset: int | None = None
    batch_metadata: deque[BatchMetadata] = field(default_factory=deque)

    @property
    def is_empty(self) -> bool:
        return not self.batch_metadata

    @property
    def first_seq(self) -> int:
        return self.batch_metadata[0].first_seq if self.batch_metadata else NO_SEQUENCE

    @property
    def last_seq(self) -> int:
        return self.batch_metadata[-1].last_seq if self.batch_metadata else NO_SEQUENCE

    @property
    def first_data_offset(self) -> int:
        return self.batch_metadata[0].first_offset if self.batch_metadata else -1

    @property
    def last_data_offset(self) -> int:
        return self.batch_metadata[-1].last_offset if self.batch_metadata else -1

    def find_duplicate_batch(self, header: BatchHeader) -> BatchMetadata | None:
        """The remembered batch with the same epoch and sequence range, if any."""
        if header.producer_epoch != self.producer_epoch:
            return None
        first, last = header.base_sequence, header.last_sequence
        for metadata in self.batch_metadata:
            if metadata.first_seq == first and metadata.last_seq == last:
                return metadata
        return None

    def maybe_update_producer_epoch(self, producer_epoch: int) -> None:
        """A new epoch starts a new sequence space: forget the old epoch's batches."""
        if self.producer_epoch != producer_epoch:
            self.batch_metadata.clear()
            self.producer_epoch = producer_epoch

    def add_batch_metadata(self, metadata: BatchMetadata) -> None:
        if len(self.batch_metadata) == NUM_BATCHES_TO_RETAIN:
            self.batch_metadata.popleft()
        self.batch_metadata.append(metadata)

    def update(self, next_entry: ProducerStateEntry) -> None:
        self.maybe_update_producer_epoch(next_entry.producer_epoch)
        for metadata in next_entry.batch_metadata:
            self.add_batch_metadata(metadata)
        self.coordinator_epoch = next_entry.coordinator_epoch
        self.current_txn_first_offset = next_entry.current_txn_first_offset
        self.last_timestamp = next_entry.last_timestamp


class CorruptSnapshotError(StorageError):
    """A producer snapshot file fails its CRC or cannot be parsed; it is deleted and ignored."""


# -- snapshot files ----------------------------------------------------------------------------
#
# Layout, big-endian: version int16 (1) | crc uint32 (CRC32C of everything after it) |
# entry count int32 | entries. Entry: producer_id int64, producer_epoch int16,
# coordinator_epoch int32, last_timestamp int64, current_txn_first_offset int64 (-1 none),
# batch count int8, then per batch: last_seq int32, last_offset int64, offset_delta int32,
# timestamp int64. Unlike Kafka's snapshot (last batch only) all five batches are kept, so
# duplicate detection survives a restart.

_SNAPSHOT_VERSION = 1
_PREFIX = struct.Struct(">hI")
_COUNT = struct.Struct(">i")
_ENTRY = struct.Struct(">qhiqqb")
_BATCH = struct.Struct(">iqiq")


def snapshot_path(log_dir: str | os.PathLike[str], offset: int) -> Path:
    """``<20-digit offset>.snapshot``, Kafka's name for a producer snapshot."""
    return Path(log_dir) / f"{offset:020d}{SNAPSHOT_SUFFIX}"


def list_snapshot_offsets(log_dir: str | os.PathLike[str]) -> list[int]:
    """Offsets of the snapshot files in ``log_dir``, ascending."""
    try:
        names = os.listdir(log_dir)
    except FileNotFoundError:
        return []
    return sorted(int(m.group(1)) for name in names if (m := _SNAPSHOT_NAME.match(name)))


def write_snapshot(path: str | os.PathLike[str], entries: Iterable[ProducerStateEntry]) -> None:
    atomic_write(path, encode_snapshot(entries))


def encode_snapshot(entries: Iterable[ProducerStateEntry]) -> bytes:
    """The snapshot file's bytes. Cheap (no I/O): the log encodes on the event loop, where the
    state lives, and writes the bytes from a worker thread."""
    body = bytearray()
    count = 0
    for entry in entries:
        count += 1
        txn = -1 if entry.current_txn_first_offset is None else entry.current_txn_first_offset
        body += _ENTRY.pack(
            entry.producer_id,
            entry.producer_epoch,
            entry.coordinator_epoch,
            entry.last_timestamp,
            txn,
            len(entry.batch_metadata),
        )
        for m in entry.batch_metadata:
            body += _BATCH.pack(m.last_seq, m.last_offset, m.offset_delta, m.timestamp)
    payload = _COUNT.pack(count) + body
    return _PREFIX.pack(_SNAPSHOT_VERSION, crc32c(payload)) + payload


def read_snapshot(path: str | os.PathLike[str]) -> list[ProducerStateEntry]:
    """Parse a snapshot file; ``CorruptSnapshotError`` on a bad CRC, version or layout."""
    data = Path(path).read_bytes()
    try:
        version, crc = _PREFIX.unpack_from(data, 0)
        if version != _SNAPSHOT_VERSION:
            raise CorruptSnapshotError(f"{path}: unknown snapshot version {version}")
        if crc32c(memoryview(data)[_PREFIX.size :]) != crc:
            raise CorruptSnapshotError(f"{path}: CRC mismatch")
        (count,) = _COUNT.unpack_from(data, _PREFIX.size)
        pos = _PREFIX.size + _COUNT.size
        entries = []
        for _ in range(count):
            pid, epoch, coordinator_epoch, last_ts, txn, batches = _ENTRY.unpack_from(data, pos)
            pos += _ENTRY.size
            metadata: deque[BatchMetadata] = deque()
            for _ in range(batches):
                metadata.append(BatchMetadata(*_BATCH.unpack_from(data, pos)))
                pos += _BATCH.size
            entries.append(
                ProducerStateEntry(
                    pid, epoch, coordinator_epoch, last_ts, None if txn < 0 else txn, metadata
                )
            )
    except struct.error as exc:
        raise CorruptSnapshotError(f"{path}: truncated snapshot") from exc
    if pos != len(data):
        raise CorruptSnapshotError(f"{path}: {len(data) - pos} unexpected trailing bytes")
    return entries
