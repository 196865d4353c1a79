"""Kafka's ``LogValidator`` for the leader's append path.

Two steps, as in ``UnifiedLog.append``:

1. :func:`analyze_and_validate_records` walks the batch headers of a produce request and
   checks each batch: magic 2, the CRC (one C call over a memoryview), the producer-batch
   rules (record count vs offset range, no control or transactional batches from clients,
   producer id / epoch / sequence consistent), a known compression codec and
   ``max.message.bytes``. Then it walks the records themselves
   (:func:`brook.records.validate.scan_records`): a batch whose CRC is right but whose
   records do not parse would be stored and poison every consumer. Compressed batches are
   decompressed for that walk, with the output bounded (:func:`decompressed_limit`). A
   trailing partial batch is dropped, as Kafka trims invalid bytes. When the topic's
   ``compression.type`` names a codec (not ``producer``), batches in another codec are
   rewritten in it, as Kafka does, into a new buffer (``ValidatedBatches.records``).
2. :func:`assign_offsets` checks every CreateTime record's timestamp against
   ``message.timestamp.before.max.ms`` / ``after.max.ms`` (the record walk yields the
   smallest and largest timestamp delta, which bound them all), then patches each batch's
   base offset and partition leader epoch in the request buffer, and sets ``maxTimestamp``:
   to the broker's clock for LogAppendTime, to the true largest record timestamp for
   CreateTime (Kafka's ``setMaxTimestamp``: a producer's claimed ``maxTimestamp`` is not
   trusted, it would pin time retention and ListOffsets).

Nothing here writes to the log: an exception leaves it untouched (the buffer may be patched,
but it is the request's and is discarded).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from brook.records.batch import (
    HEADER_SIZE,
    LOG_APPEND_TIME,
    NO_PRODUCER_ID,
    TIMESTAMP_TYPE_MASK,
    BatchHeader,
    iter_batches,
    patch_base_offset_and_leader_epoch,
    read_batch_header,
    set_log_append_time,
    set_max_timestamp,
    validate_batch,
    validate_produce_batch,
)
from brook.records.compression import CompressionType, decompress
from brook.records.errors import CorruptRecordError, InvalidRecordError
from brook.records.recompress import recompress_batch
from brook.records.validate import (
    MIN_RECORD_SIZE,
    record_timestamp_deltas,
    scan_records,
)
from brook.storage.errors import InvalidTimestampError, RecordTooLargeError, StorageError

if TYPE_CHECKING:
    from brook.storage.log_config import LogConfig

__all__ = [
    "AssignedOffsets",
    "InvalidTxnStateError",
    "RecordTimestampError",
    "UnsupportedCompressionTypeError",
    "ValidatedBatches",
    "analyze_and_validate_records",
    "assign_offsets",
    "decompressed_limit",
    "producer_headers_as_written",
    "timestamp_bounds",
]

_LONG_MAX = 2**63 - 1
_MIN_DECOMPRESSED_LIMIT = 1 << 20
_DECOMPRESSION_RATIO_LIMIT = 32


class UnsupportedCompressionTypeError(InvalidRecordError):
    """A batch names a codec id Kafka does not define (5-7). ``UNSUPPORTED_COMPRESSION_TYPE`` (76)."""


class InvalidTxnStateError(StorageError):
    """A client wrote a transactional batch; brook runs no transactions, so none can be open
    for it (Kafka's answer to a transactional write outside a verified transaction).
    ``INVALID_TXN_STATE`` (48)."""


class RecordTimestampError(InvalidTimestampError):
    """``INVALID_TIMESTAMP`` naming the offending records, for Produce v8+'s ``record_errors``."""

    def __init__(self, message: str, record_errors: list[tuple[int, str]]) -> None:
        super().__init__(message)
        self.record_errors = record_errors


def decompressed_limit(max_message_bytes: int) -> int:
    """The most bytes a compressed batch may inflate to: 32 times ``max.message.bytes``
    (at least 1 MiB). Real producer data compresses far less than 32:1 within one batch; a
    batch past it is refused (``INVALID_RECORD``) rather than held in memory."""
    return max(_MIN_DECOMPRESSED_LIMIT, _DECOMPRESSION_RATIO_LIMIT * max_message_bytes)


def timestamp_bounds(config: LogConfig, now_ms: int) -> tuple[int, int]:
    """``(earliest, latest)`` CreateTime timestamp accepted now.

    The deprecated ``message.timestamp.difference.max.ms`` still applies to a side whose
    Kafka 3.6+ key (``before.max.ms`` / ``after.max.ms``) is left at its default, as in
    Kafka's ``LogConfig``."""
    difference = config.message_timestamp_difference_max_ms
    before = config.message_timestamp_before_max_ms
    after = config.message_timestamp_after_max_ms
    if before == _LONG_MAX:
        before = difference
    if after == _LONG_MAX:
        after = difference
    return now_ms - before, now_ms + after


class ValidatedBatches(list[tuple[int, BatchHeader]]):
    """``(position, header)`` of each validated batch, plus each one's smallest and largest
    record timestamp delta (``timestamp_deltas``, same order) from the record walk.

    ``records`` is the buffer the positions refer to and the caller writes: the request's
    own, or a new one when ``compression.type`` made the leader rewrite batches."""

    __slots__ = ("records", "timestamp_deltas")

    def __init__(self, records: memoryview) -> None:
        super().__init__()
        self.records = records
        self.timestamp_deltas: list[tuple[int, int]] = []

    def add(self, pos: int, header: BatchHeader, deltas: tuple[int, int]) -> None:
        self.append((pos, header))
        self.timestamp_deltas.append(deltas)


def analyze_and_validate_records(
    records: memoryview, config: LogConfig, *, origin_client: bool = True
) -> ValidatedBatches:
    """Every complete batch, each validated header and records; raises on the first bad one.

    For a compacted topic every record must have a key (compaction keeps the latest value per
    key, so a keyless record could never be cleaned): ``INVALID_RECORD``, as in Kafka.
    """
    batches = ValidatedBatches(records)
    max_message_bytes = config.max_message_bytes
    require_keys = config.compact and origin_client
    target = config.compression_codec if origin_client else None
    rewritten: list[tuple[int, BatchHeader, bytearray]] = []
    for pos, header in iter_batches(records):
        if header.size > max_message_bytes:
            raise RecordTooLargeError(
                f"batch of {header.size} bytes exceeds max.message.bytes {max_message_bytes}"
            )
        if not origin_client:
            validate_batch(records, pos, header)
            batches.add(pos, header, (0, header.max_timestamp - header.base_timestamp))
            continue
        validate_produce_batch(records, pos, header)
        _check_producer_fields(header)
        codec = header.compression
        start = pos + HEADER_SIZE
        end = pos + header.size
        if codec == CompressionType.NONE:
            data: bytes | memoryview = records[start:end]
            deltas = scan_records(
                records, start, end, header.records_count, require_keys=require_keys
            )
        else:
            data = _decompress(header, records[start:end], decompressed_limit(max_message_bytes))
            deltas = scan_records(
                data, 0, len(data), header.records_count, require_keys=require_keys
            )
        batches.add(pos, header, deltas)
        if target is not None and codec != target:
            rewritten.append((pos, header, recompress_batch(records, pos, header, data, target)))
    if not batches and len(records):
        raise CorruptRecordError("the request holds no complete record batch")
    if rewritten:
        return _with_rewritten(batches, rewritten, max_message_bytes)
    return batches


def _with_rewritten(
    batches: ValidatedBatches,
    rewritten: list[tuple[int, BatchHeader, bytearray]],
    max_message_bytes: int,
) -> ValidatedBatches:
    """The batches laid out in a new buffer, the rewritten ones in their new codec (Kafka
    checks the rewritten size against ``max.message.bytes`` again)."""
    new_bytes = {pos: data for pos, _, data in rewritten}
    out = bytearray()
    result = ValidatedBatches(memoryview(b""))
    for (pos, header), deltas in zip(batches, batches.timestamp_deltas, strict=True):
        rebuilt = new_bytes.get(pos)
        data: bytearray | memoryview
        if rebuilt is None:
            new_header = header
            data = batches.records[pos : pos + header.size]
        else:
            data = rebuilt
            new_header = read_batch_header(data)
            if new_header.size > max_message_bytes:
                raise RecordTooLargeError(
                    f"batch of {new_header.size} bytes after recompression exceeds "
                    f"max.message.bytes {max_message_bytes}"
                )
        result.add(len(out), new_header, deltas)
        out += data
    result.records = memoryview(out)
    return result


def _check_producer_fields(header: BatchHeader) -> None:
    """Kafka's ``LogValidator.validateBatch`` rules on the idempotence/transaction fields."""
    if header.is_transactional:
        raise InvalidTxnStateError(
            "transactional batch without an ongoing transaction (transactions are not enabled)"
        )
    if header.producer_id == NO_PRODUCER_ID:
        return
    if header.producer_id < 0:
        raise InvalidRecordError(f"invalid producer id {header.producer_id}")
    if header.base_sequence < 0:
        raise InvalidRecordError(
            f"Invalid sequence number {header.base_sequence} in record batch with producerId "
            f"{header.producer_id}"
        )
    if header.producer_epoch < 0:
        raise InvalidRecordError(
            f"invalid producer epoch {header.producer_epoch} in record batch with producerId "
            f"{header.producer_id}"
        )


def _decompress(header: BatchHeader, body: memoryview, limit: int) -> bytes:
    codec = header.compression
    if codec > CompressionType.ZSTD:
        raise UnsupportedCompressionTypeError(f"unknown compression codec id {codec}")
    if header.records_count * MIN_RECORD_SIZE > limit:
        raise InvalidRecordError(
            f"record count {header.records_count} cannot fit in the {limit} bytes a batch "
            "may decompress to"
        )
    try:
        return decompress(codec, body, limit)
    except CorruptRecordError as exc:
        raise InvalidRecordError(
            f"invalid {CompressionType(codec).name.lower()} data: {exc}"
        ) from exc


@dataclass(slots=True)
class AssignedOffsets:
    """The offsets and timestamps a request's batches were given."""

    first_offset: int
    last_offset: int
    max_timestamp: int
    offset_of_max_timestamp: int
    num_messages: int
    valid_bytes: int


def assign_offsets(
    records: memoryview,
    batches: ValidatedBatches,
    config: LogConfig,
    *,
    next_offset: int,
    leader_epoch: int,
    now_ms: int,
) -> AssignedOffsets:
    """Check timestamps, then patch offsets, leader epoch and max timestamps."""
    log_append_time = config.message_timestamp_type == "LogAppendTime"
    if not log_append_time:
        earliest, latest = timestamp_bounds(config, now_ms)
        limit = decompressed_limit(config.max_message_bytes)
        _check_timestamps(records, batches, earliest, latest, limit)
    offset = next_offset
    max_timestamp = -1
    offset_of_max_timestamp = -1
    num_messages = 0
    for i, ((pos, header), (_, max_delta)) in enumerate(
        zip(batches, batches.timestamp_deltas, strict=True)
    ):
        patch_base_offset_and_leader_epoch(records, pos, header, offset, leader_epoch)
        if log_append_time:
            set_log_append_time(records, pos, now_ms)
            batch_max = now_ms
        else:
            batch_max = header.base_timestamp + max_delta
            if batch_max != header.max_timestamp or header.timestamp_type == LOG_APPEND_TIME:
                set_max_timestamp(records, pos, batch_max)
                # Producer state keeps the header's max timestamp: give it the stored one.
                header = header._replace(
                    max_timestamp=batch_max, attributes=header.attributes & ~TIMESTAMP_TYPE_MASK
                )
                batches[i] = (pos, header)
        last = offset + header.last_offset_delta
        if batch_max > max_timestamp:
            max_timestamp = batch_max
            offset_of_max_timestamp = last
        num_messages += header.records_count
        offset = last + 1
    last_pos, last_header = batches[-1]
    return AssignedOffsets(
        first_offset=next_offset,
        last_offset=offset - 1,
        max_timestamp=max_timestamp,
        offset_of_max_timestamp=offset_of_max_timestamp,
        num_messages=num_messages,
        valid_bytes=last_pos + last_header.size,
    )


def producer_headers_as_written(
    batches: ValidatedBatches, first_offset: int, append_time: int
) -> Iterator[BatchHeader]:
    """Idempotent batches' headers as written after :func:`assign_offsets`: the assigned
    base offset (and, with ``append_time`` >= 0, the LogAppendTime timestamp), for the
    producer state to check and record."""
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


def _check_timestamps(
    records: memoryview, batches: ValidatedBatches, earliest: int, latest: int, limit: int
) -> None:
    for (pos, header), (lo, hi) in zip(batches, batches.timestamp_deltas, strict=True):
        base = header.base_timestamp
        if base + lo >= earliest and base + hi <= latest:
            continue
        errors = [
            (index, f"timestamp {base + delta} of record is out of range [{earliest}, {latest}]")
            for index, delta in enumerate(_deltas(records, pos, header, limit))
            if not earliest <= base + delta <= latest
        ]
        raise RecordTimestampError(
            f"One or more records have been rejected due to invalid timestamp: "
            f"{len(errors)} record(s) outside [{earliest}, {latest}] "
            "(message.timestamp.before.max.ms / after.max.ms)",
            errors,
        )


def _deltas(records: memoryview, pos: int, header: BatchHeader, limit: int) -> list[int]:
    start = pos + HEADER_SIZE
    end = pos + header.size
    if header.compression == CompressionType.NONE:
        return record_timestamp_deltas(records, start, end, header.records_count)
    data = decompress(header.compression, records[start:end], limit)
    return record_timestamp_deltas(data, 0, len(data), header.records_count)
