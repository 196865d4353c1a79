"""The RecordBatch v2 (magic 2) header: layout, parsing, validation and in-place patching.

This module is the broker's hot path through batch headers. A batch is parsed by one
``struct.unpack_from`` of its 61-byte header, checked with one C-implemented CRC32C over a
memoryview, has its base offset and partition leader epoch patched in place, and is stored
as the producer sent it (docs/architecture.md, Rules). Fetch never looks inside a batch; produce walks the
records once to check their framing (``validate.py``, compiled when a C compiler is present),
because a sound header and CRC do not make the records parseable.

Layout (big-endian; offsets from the start of the batch)::

    0  baseOffset            int64   \\ "log overhead": not covered by the CRC,
    8  batchLength           int32   /  batchLength counts the bytes after this field
    12 partitionLeaderEpoch  int32      not covered by the CRC (the leader patches it)
    16 magic                 int8       always 2
    17 crc                   uint32     CRC32C of bytes [21, 12 + batchLength)
    21 attributes            int16
    23 lastOffsetDelta       int32
    27 baseTimestamp         int64
    35 maxTimestamp          int64
    43 producerId            int64
    51 producerEpoch         int16
    53 baseSequence          int32
    57 recordsCount          int32
    61 records...

Every function takes ``(buf, pos)`` so it works on a request buffer, a segment mmap or a
fetch payload holding many batches, without slicing copies.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import TYPE_CHECKING, NamedTuple

from brook.records.crc import crc32c
from brook.records.errors import CorruptRecordError, InvalidRecordError

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer, WriteableBuffer

__all__ = [
    "ATTRIBUTES_OFFSET",
    "BASE_OFFSET_OFFSET",
    "BASE_SEQUENCE_OFFSET",
    "BASE_TIMESTAMP_OFFSET",
    "BATCH_HEADER",
    "BATCH_OVERHEAD_AFTER_LENGTH",
    "COMPRESSION_MASK",
    "CONTROL_MASK",
    "CRC_OFFSET",
    "CREATE_TIME",
    "DELETE_HORIZON_MASK",
    "HEADER_SIZE",
    "HEADER_SIZE_UP_TO_MAGIC",
    "LAST_OFFSET_DELTA_OFFSET",
    "LENGTH_OFFSET",
    "LOG_APPEND_TIME",
    "LOG_OVERHEAD",
    "MAGIC",
    "MAGIC_OFFSET",
    "MAX_TIMESTAMP_OFFSET",
    "NO_PARTITION_LEADER_EPOCH",
    "NO_PRODUCER_EPOCH",
    "NO_PRODUCER_ID",
    "NO_SEQUENCE",
    "NO_TIMESTAMP",
    "PARTITION_LEADER_EPOCH_OFFSET",
    "PRODUCER_EPOCH_OFFSET",
    "PRODUCER_ID_OFFSET",
    "RECORDS_COUNT_OFFSET",
    "TIMESTAMP_TYPE_MASK",
    "TRANSACTIONAL_MASK",
    "BatchHeader",
    "compute_crc",
    "decrement_sequence",
    "increment_sequence",
    "iter_batches",
    "patch_base_offset_and_leader_epoch",
    "read_batch_header",
    "set_log_append_time",
    "set_max_timestamp",
    "validate_batch",
    "validate_produce_batch",
    "write_crc",
]

BATCH_HEADER = struct.Struct(">qiibIhiqqqhii")
HEADER_SIZE = 61
LOG_OVERHEAD = 12
"""baseOffset + batchLength: the bytes in front of what ``batchLength`` counts."""
HEADER_SIZE_UP_TO_MAGIC = 17
"""Bytes needed to learn a batch's magic (Kafka reads this much before deciding the format)."""
BATCH_OVERHEAD_AFTER_LENGTH = HEADER_SIZE - LOG_OVERHEAD
"""49: the smallest legal ``batchLength`` (a header with zero records)."""
MAGIC = 2

BASE_OFFSET_OFFSET = 0
LENGTH_OFFSET = 8
PARTITION_LEADER_EPOCH_OFFSET = 12
MAGIC_OFFSET = 16
CRC_OFFSET = 17
ATTRIBUTES_OFFSET = 21
LAST_OFFSET_DELTA_OFFSET = 23
BASE_TIMESTAMP_OFFSET = 27
MAX_TIMESTAMP_OFFSET = 35
PRODUCER_ID_OFFSET = 43
PRODUCER_EPOCH_OFFSET = 51
BASE_SEQUENCE_OFFSET = 53
RECORDS_COUNT_OFFSET = 57

COMPRESSION_MASK = 0x07
TIMESTAMP_TYPE_MASK = 0x08
TRANSACTIONAL_MASK = 0x10
CONTROL_MASK = 0x20
DELETE_HORIZON_MASK = 0x40

CREATE_TIME = 0
LOG_APPEND_TIME = 1

NO_TIMESTAMP = -1
NO_PRODUCER_ID = -1
NO_PRODUCER_EPOCH = -1
NO_SEQUENCE = -1
NO_PARTITION_LEADER_EPOCH = -1

_INT32_MAX = 0x7FFFFFFF

_INT64 = struct.Struct(">q")
_INT32 = struct.Struct(">i")
_UINT32 = struct.Struct(">I")
_INT16 = struct.Struct(">h")
_INT64_INT32 = struct.Struct(">qi")
_INT64_INT32_INT32 = struct.Struct(">qii")


class BatchHeader(NamedTuple):
    """The 61-byte v2 header, field for field (Kafka's ``DefaultRecordBatch`` accessors).

    A NamedTuple because it is built once per batch on the produce path straight from
    ``struct.unpack_from`` (``BatchHeader._make``) and must cost as little as a tuple.
    """

    base_offset: int
    batch_length: int
    partition_leader_epoch: int
    magic: int
    crc: int
    attributes: int
    last_offset_delta: int
    base_timestamp: int
    max_timestamp: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    records_count: int

    @property
    def compression(self) -> int:
        """The codec id (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd); see ``CompressionType``."""
        return self.attributes & COMPRESSION_MASK

    @property
    def timestamp_type(self) -> int:
        """``CREATE_TIME`` (0) or ``LOG_APPEND_TIME`` (1)."""
        return (self.attributes & TIMESTAMP_TYPE_MASK) >> 3

    @property
    def is_transactional(self) -> bool:
        return bool(self.attributes & TRANSACTIONAL_MASK)

    @property
    def is_control(self) -> bool:
        """A control batch carries a transaction marker (COMMIT/ABORT), not user data."""
        return bool(self.attributes & CONTROL_MASK)

    @property
    def has_delete_horizon(self) -> bool:
        """Set by the log cleaner: ``base_timestamp`` then holds the tombstone delete horizon."""
        return bool(self.attributes & DELETE_HORIZON_MASK)

    @property
    def last_offset(self) -> int:
        return self.base_offset + self.last_offset_delta

    @property
    def next_offset(self) -> int:
        """The offset the batch after this one starts at."""
        return self.base_offset + self.last_offset_delta + 1

    @property
    def size(self) -> int:
        """Total bytes of the batch including the log overhead."""
        return self.batch_length + LOG_OVERHEAD

    @property
    def has_producer_id(self) -> bool:
        return self.producer_id != NO_PRODUCER_ID

    @property
    def last_sequence(self) -> int:
        """Sequence of the last record, wrapping past Int32.MAX to 0 as Kafka's producer does.

        ``NO_SEQUENCE`` when the batch carries none (a non-idempotent producer).
        """
        if self.base_sequence == NO_SEQUENCE:
            return NO_SEQUENCE
        return increment_sequence(self.base_sequence, self.last_offset_delta)


def increment_sequence(sequence: int, increment: int) -> int:
    """``sequence + increment`` with Kafka's wrap-around at Int32.MAX (``DefaultRecordBatch.incrementSequence``)."""
    if sequence > _INT32_MAX - increment:
        return increment - (_INT32_MAX - sequence) - 1
    return sequence + increment


def decrement_sequence(sequence: int, decrement: int) -> int:
    """Inverse of :func:`increment_sequence`."""
    if sequence < decrement:
        return _INT32_MAX - (decrement - sequence) + 1
    return sequence - decrement


def read_batch_header(buf: ReadableBuffer, pos: int = 0) -> BatchHeader:
    """Parse the 61-byte header at ``pos``.

    Raises ``CorruptRecordError`` if fewer than 61 bytes remain. No other check is made: see
    :func:`validate_batch`.
    """
    try:
        return BatchHeader._make(BATCH_HEADER.unpack_from(buf, pos))
    except struct.error as exc:
        raise CorruptRecordError(f"truncated batch header at position {pos}") from exc


def iter_batches(buf: ReadableBuffer, pos: int = 0) -> Iterator[tuple[int, BatchHeader]]:
    """Yield ``(position, header)`` for each complete batch in ``buf`` starting at ``pos``.

    Stops silently at a partial trailing batch: a fetch response may end mid-batch (the
    broker fills ``max_bytes`` with whole file regions) and a crashed segment may end with a
    torn write. A caller that needs to know where the complete data ends uses the last
    ``position + header.size`` it saw. A ``batchLength`` too small to be a batch is not a
    partial batch but garbage, and raises ``CorruptRecordError`` (Kafka's
    ``ByteBufferLogInputStream`` does the same). The batches are not validated.
    """
    end = len(memoryview(buf))
    unpack_length = _INT64_INT32.unpack_from
    unpack_header = BATCH_HEADER.unpack_from
    make = BatchHeader._make
    while pos + LOG_OVERHEAD <= end:
        _, batch_length = unpack_length(buf, pos)
        if batch_length < HEADER_SIZE_UP_TO_MAGIC - LOG_OVERHEAD:
            raise CorruptRecordError(
                f"batch at position {pos} has length {batch_length}, "
                f"smaller than the minimum {HEADER_SIZE_UP_TO_MAGIC - LOG_OVERHEAD}"
            )
        size = batch_length + LOG_OVERHEAD
        if pos + size > end:
            return
        if size < HEADER_SIZE:
            raise CorruptRecordError(
                f"batch at position {pos} has length {batch_length}, "
                f"smaller than the v2 header overhead {BATCH_OVERHEAD_AFTER_LENGTH}"
            )
        yield pos, make(unpack_header(buf, pos))
        pos += size


def compute_crc(buf: ReadableBuffer, pos: int, size: int) -> int:
    """CRC32C over the CRC-covered bytes of the batch at ``pos`` (attributes to the end)."""
    return crc32c(memoryview(buf)[pos + ATTRIBUTES_OFFSET : pos + size])


def validate_batch(buf: ReadableBuffer, pos: int, header: BatchHeader) -> None:
    """Check that the batch at ``pos`` is structurally sound and its CRC matches.

    These are the checks that hold for every v2 batch anywhere: in a produce request, on
    disk, in a follower's fetch (Kafka's ``DefaultRecordBatch.ensureValid`` plus the record
    count sanity checks). A batch rewritten by the log cleaner legitimately has fewer
    records than its offset range (it keeps its original last offset so producer state
    survives), so the count may be *smaller* than ``last_offset_delta + 1`` but never larger;
    the stricter rules for batches straight from a producer are in
    :func:`validate_produce_batch`.
    """
    if header.magic != MAGIC:
        raise CorruptRecordError(f"batch at position {pos} has unsupported magic {header.magic}")
    if header.batch_length < BATCH_OVERHEAD_AFTER_LENGTH:
        raise CorruptRecordError(
            f"batch at position {pos} has length {header.batch_length}, smaller than the "
            f"minimum allowed overhead {BATCH_OVERHEAD_AFTER_LENGTH}"
        )
    size = header.batch_length + LOG_OVERHEAD
    if pos + size > len(memoryview(buf)):
        raise CorruptRecordError(f"batch at position {pos} is truncated")
    if header.last_offset_delta < 0:
        raise CorruptRecordError(
            f"batch at position {pos} has negative last offset delta {header.last_offset_delta}"
        )
    if header.records_count < 0 or header.records_count > header.last_offset_delta + 1:
        raise CorruptRecordError(
            f"batch at position {pos} has invalid record count {header.records_count} "
            f"for last offset delta {header.last_offset_delta}"
        )
    actual = crc32c(memoryview(buf)[pos + ATTRIBUTES_OFFSET : pos + size])
    if actual != header.crc:
        raise CorruptRecordError(
            f"batch at position {pos} is corrupt (stored crc = {header.crc}, "
            f"computed crc = {actual})"
        )


def validate_produce_batch(buf: ReadableBuffer, pos: int, header: BatchHeader) -> None:
    """:func:`validate_batch` plus the rules for a batch arriving from a producer.

    A producer's batch must have a dense offset range, ``records_count ==
    last_offset_delta + 1 > 0`` (Kafka's ``LogValidator.validateBatch``); breaking that is
    ``InvalidRecordError`` (INVALID_RECORD), not corruption. Clients may not write control
    batches either.
    """
    validate_batch(buf, pos, header)
    if header.records_count <= 0:
        raise InvalidRecordError(f"invalid reported count for record batch: {header.records_count}")
    if header.records_count != header.last_offset_delta + 1:
        raise InvalidRecordError("inconsistent batch offset range and record count")
    if header.is_control:
        raise InvalidRecordError("clients are not allowed to write control records")


def patch_base_offset_and_leader_epoch(
    buf: WriteableBuffer, pos: int, header: BatchHeader, base_offset: int, epoch: int
) -> None:
    """The leader's two patches in one pack: base offset and partition leader epoch (the batch
    length between them is rewritten unchanged from ``header``). Both lie outside the CRC's
    coverage, so nothing is recomputed."""
    _INT64_INT32_INT32.pack_into(buf, pos, base_offset, header.batch_length, epoch)


def write_crc(buf: WriteableBuffer, pos: int, size: int) -> int:
    """Recompute and store the CRC of the batch at ``pos`` (``size`` bytes); return it."""
    crc = crc32c(memoryview(buf)[pos + ATTRIBUTES_OFFSET : pos + size])
    _UINT32.pack_into(buf, pos + CRC_OFFSET, crc)
    return crc


def set_log_append_time(buf: WriteableBuffer, pos: int, timestamp_ms: int) -> None:
    """Stamp the batch with the broker's append time (``message.timestamp.type=LogAppendTime``).

    As Kafka's ``DefaultRecordBatch.setMaxTimestamp`` does: set the timestamp-type bit, put
    the time in ``maxTimestamp`` (readers then report it as every record's timestamp), leave
    the records untouched, and recompute the CRC because both fields are covered by it. This
    is one 16-byte write plus one CRC pass: still no per-record work.
    """
    view = memoryview(buf)
    (attributes,) = _INT16.unpack_from(view, pos + ATTRIBUTES_OFFSET)
    (max_timestamp,) = _INT64.unpack_from(view, pos + MAX_TIMESTAMP_OFFSET)
    new_attributes = attributes | TIMESTAMP_TYPE_MASK
    if new_attributes == attributes and max_timestamp == timestamp_ms:
        return
    (batch_length,) = _INT32.unpack_from(view, pos + LENGTH_OFFSET)
    _INT16.pack_into(view, pos + ATTRIBUTES_OFFSET, new_attributes)
    _INT64.pack_into(view, pos + MAX_TIMESTAMP_OFFSET, timestamp_ms)
    write_crc(view, pos, batch_length + LOG_OVERHEAD)


def set_max_timestamp(buf: WriteableBuffer, pos: int, timestamp_ms: int) -> None:
    """Make the batch a CreateTime batch whose ``maxTimestamp`` is ``timestamp_ms``.

    Kafka's ``DefaultRecordBatch.setMaxTimestamp(CREATE_TIME, ...)``: the leader stores the
    largest record timestamp it computed, not the producer's claim, and clears a
    LogAppendTime bit a producer has no business setting. Both fields are CRC-covered, so the
    CRC is recomputed; only batches whose header was wrong pay for it.
    """
    view = memoryview(buf)
    (attributes,) = _INT16.unpack_from(view, pos + ATTRIBUTES_OFFSET)
    (batch_length,) = _INT32.unpack_from(view, pos + LENGTH_OFFSET)
    _INT16.pack_into(view, pos + ATTRIBUTES_OFFSET, attributes & ~TIMESTAMP_TYPE_MASK)
    _INT64.pack_into(view, pos + MAX_TIMESTAMP_OFFSET, timestamp_ms)
    write_crc(view, pos, batch_length + LOG_OVERHEAD)
