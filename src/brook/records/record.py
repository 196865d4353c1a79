"""Individual records inside v2 batches: decoding them and building batches from them.

This is deliberately *not* on the broker's produce or fetch path, which handles batches
as opaque bytes (see ``batch.py``). It serves the log cleaner, the CLI, connectors and tests,
which need keys, values and headers.

A record inside a batch (Kafka's ``DefaultRecord``), all integers zigzag varints except
``attributes``::

    length            varint   bytes after this field
    attributes        int8     unused, 0
    timestampDelta    varlong  relative to the batch's baseTimestamp (may be negative)
    offsetDelta       varint   relative to the batch's baseOffset
    keyLength         varint   -1 for a null key
    key               bytes
    valueLength       varint   -1 for a null value (a tombstone)
    value             bytes
    headersCount      varint
    headers           [keyLength varint, key utf-8, valueLength varint (-1 null), value]
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from brook.records.batch import (
    BATCH_HEADER,
    CONTROL_MASK,
    CREATE_TIME,
    DELETE_HORIZON_MASK,
    HEADER_SIZE,
    LOG_APPEND_TIME,
    LOG_OVERHEAD,
    MAGIC,
    NO_TIMESTAMP,
    TIMESTAMP_TYPE_MASK,
    TRANSACTIONAL_MASK,
    BatchHeader,
    iter_batches,
    read_batch_header,
    validate_batch,
    write_crc,
)
from brook.records.compression import (
    DEFAULT_MAX_DECOMPRESSED_SIZE,
    CompressionType,
    compress,
    decompress,
)
from brook.records.errors import CorruptRecordError
from brook.records.validate import MIN_RECORD_SIZE
from brook.records.varint import read_varint, write_varint

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

__all__ = [
    "Header",
    "Record",
    "RecordInput",
    "build_batch",
    "decode_records",
    "iter_batch_records",
    "iter_records_in_batches",
]

Header = tuple[str, bytes | None]


@dataclass(frozen=True, slots=True)
class Record:
    """One decoded record with the batch-level facts a reader needs to interpret it.

    ``timestamp`` is already resolved: for a ``LogAppendTime`` batch it is the batch's max
    timestamp (the broker's append time), as Kafka reports it.
    """

    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: tuple[Header, ...] = ()
    timestamp_type: int = CREATE_TIME
    leader_epoch: int = -1
    producer_id: int = -1
    is_transactional: bool = False
    is_control: bool = False


class RecordInput(NamedTuple):
    """A record to put in a batch. Plain ``(key, value, headers, timestamp)`` tuples work too."""

    key: bytes | None
    value: bytes | None
    headers: Sequence[Header]
    timestamp: int


def decode_records(
    buf: ReadableBuffer,
    pos: int = 0,
    *,
    verify: bool = True,
    max_decompressed_size: int = DEFAULT_MAX_DECOMPRESSED_SIZE,
) -> list[Record]:
    """Decode every record of the batch at ``pos``, decompressing if needed.

    With ``verify`` (the default) the batch is first checked by ``validate_batch`` (magic,
    lengths, CRC). Malformed record data raises ``CorruptRecordError``; a decompressed size
    over ``max_decompressed_size`` raises ``InvalidRecordError``.
    """
    return list(
        iter_batch_records(buf, pos, verify=verify, max_decompressed_size=max_decompressed_size)
    )


def iter_batch_records(
    buf: ReadableBuffer,
    pos: int = 0,
    *,
    verify: bool = True,
    max_decompressed_size: int = DEFAULT_MAX_DECOMPRESSED_SIZE,
) -> Iterator[Record]:
    """:func:`decode_records` one record at a time, for readers that must stay in bounded
    memory (the log cleaner): a batch holding millions of tiny records is never turned into
    millions of objects at once. The checks are made before the first record is yielded,
    except the per-record framing, which is checked as each record is reached."""
    view = memoryview(buf).cast("B")
    header = read_batch_header(view, pos)
    if verify:
        validate_batch(view, pos, header)
    elif header.magic != MAGIC:
        raise CorruptRecordError(f"unsupported magic {header.magic}")
    end = pos + header.size
    if end > len(view) or header.size < HEADER_SIZE:
        raise CorruptRecordError(f"batch at position {pos} is truncated")
    count = header.records_count
    if count < 0:
        raise CorruptRecordError(f"invalid record count {count}")
    body = view[pos + HEADER_SIZE : end]
    if header.compression == CompressionType.NONE:
        data = bytes(body)
    else:
        if count * MIN_RECORD_SIZE > max_decompressed_size:
            raise CorruptRecordError(
                f"record count {count} cannot fit in {max_decompressed_size} decompressed bytes"
            )
        data = decompress(header.compression, body, max_decompressed_size)
    return _decode_body(header, data)


def iter_records_in_batches(
    buf: ReadableBuffer,
    pos: int = 0,
    *,
    verify: bool = True,
    max_decompressed_size: int = DEFAULT_MAX_DECOMPRESSED_SIZE,
) -> Iterator[Record]:
    """Yield the records of every complete batch in ``buf`` (e.g. a whole fetch payload).

    A partial trailing batch is skipped, as a consumer skips the tail of a fetch response.
    """
    for batch_pos, _ in iter_batches(buf, pos):
        yield from decode_records(
            buf, batch_pos, verify=verify, max_decompressed_size=max_decompressed_size
        )


def _decode_body(header: BatchHeader, data: bytes) -> Iterator[Record]:
    count = header.records_count
    # Every record takes at least 7 bytes; reject absurd counts before decoding anything.
    if count * MIN_RECORD_SIZE > len(data):
        raise CorruptRecordError(
            f"record count {count} cannot fit in the {len(data)} bytes of record data"
        )
    log_append_time = header.timestamp_type == LOG_APPEND_TIME
    base_offset = header.base_offset
    base_timestamp = header.base_timestamp
    batch_facts = (
        header.timestamp_type,
        header.partition_leader_epoch,
        header.producer_id,
        header.is_transactional,
        header.is_control,
    )
    end = len(data)
    pos = 0
    for _ in range(count):
        length, pos = read_varint(data, pos, end)
        record_end = pos + length
        if length < 6 or record_end > end:
            raise CorruptRecordError(f"invalid record length {length}")
        pos += 1  # attributes: unused in v2
        timestamp_delta, pos = read_varint(data, pos, record_end)
        offset_delta, pos = read_varint(data, pos, record_end)
        key, pos = _read_bytes(data, pos, record_end)
        value, pos = _read_bytes(data, pos, record_end)
        header_count, pos = read_varint(data, pos, record_end)
        if header_count < 0 or header_count > record_end - pos:
            raise CorruptRecordError(f"invalid header count {header_count}")
        headers: list[Header] = []
        for _ in range(header_count):
            raw_key, pos = _read_bytes(data, pos, record_end)
            if raw_key is None:
                raise CorruptRecordError("null header key")
            try:
                header_key = raw_key.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise CorruptRecordError("header key is not valid UTF-8") from exc
            header_value, pos = _read_bytes(data, pos, record_end)
            headers.append((header_key, header_value))
        if pos != record_end:
            raise CorruptRecordError("record length does not match its contents")
        timestamp = header.max_timestamp if log_append_time else base_timestamp + timestamp_delta
        yield Record(
            base_offset + offset_delta, timestamp, key, value, tuple(headers), *batch_facts
        )
    if pos != end:
        raise CorruptRecordError(f"{end - pos} bytes remain after the last record")


def _read_bytes(data: bytes, pos: int, end: int) -> tuple[bytes | None, int]:
    length, pos = read_varint(data, pos, end)
    if length < 0:
        if length != -1:
            raise CorruptRecordError(f"invalid field length {length}")
        return None, pos
    if pos + length > end:
        raise CorruptRecordError("field runs past the end of its record")
    return data[pos : pos + length], pos + length


def build_batch(
    records: Sequence[RecordInput | tuple[bytes | None, bytes | None, Sequence[Header], int]],
    *,
    base_offset: int = 0,
    compression: int = CompressionType.NONE,
    producer_id: int = -1,
    producer_epoch: int = -1,
    base_sequence: int = -1,
    partition_leader_epoch: int = -1,
    timestamp_type: int = CREATE_TIME,
    is_transactional: bool = False,
    is_control: bool = False,
    base_timestamp: int | None = None,
    offset_deltas: Sequence[int] | None = None,
    last_offset_delta: int | None = None,
    delete_horizon_ms: int | None = None,
) -> bytearray:
    """Build one v2 batch with a correct CRC, as Kafka's ``MemoryRecordsBuilder`` does.

    ``base_timestamp`` defaults to the first record's timestamp (what the Java client
    writes); timestamps before it are encoded as negative deltas. ``offset_deltas`` and
    ``last_offset_delta`` exist for the log cleaner, which rewrites a batch keeping the
    surviving records' offsets and the original last offset (so the producer's last
    sequence survives compaction); by default records get deltas ``0..n-1``.
    ``delete_horizon_ms`` marks a cleaned batch whose tombstones expire at that time: it
    becomes the base timestamp and sets the delete-horizon attribute bit. With
    ``timestamp_type=LOG_APPEND_TIME`` only the attribute bit is set; use
    ``set_log_append_time`` to stamp the time.
    """
    if offset_deltas is not None and len(offset_deltas) != len(records):
        raise ValueError("offset_deltas must have one entry per record")
    deltas: Sequence[int] = range(len(records)) if offset_deltas is None else offset_deltas
    if last_offset_delta is None:
        if not records:
            raise ValueError("an empty batch needs an explicit last_offset_delta")
        last_offset_delta = max(deltas)
    elif records and last_offset_delta < max(deltas):
        raise ValueError("last_offset_delta is smaller than a record's offset delta")

    attributes = CompressionType(compression) & 0x07
    if timestamp_type == LOG_APPEND_TIME:
        attributes |= TIMESTAMP_TYPE_MASK
    if is_transactional:
        attributes |= TRANSACTIONAL_MASK
    if is_control:
        attributes |= CONTROL_MASK
    if delete_horizon_ms is not None:
        attributes |= DELETE_HORIZON_MASK
        base_timestamp = delete_horizon_ms
    elif base_timestamp is None:
        base_timestamp = records[0][3] if records else NO_TIMESTAMP
    max_timestamp = max((r[3] for r in records), default=NO_TIMESTAMP)

    body = bytearray()
    record = bytearray()
    for (key, value, headers, timestamp), offset_delta in zip(records, deltas, strict=True):
        record.clear()
        record.append(0)  # attributes
        write_varint(record, timestamp - base_timestamp)
        write_varint(record, offset_delta)
        _write_bytes(record, key)
        _write_bytes(record, value)
        write_varint(record, len(headers))
        for header_key, header_value in headers:
            _write_bytes(record, header_key.encode("utf-8"))
            _write_bytes(record, header_value)
        write_varint(body, len(record))
        body += record

    payload = compress(compression, body) if compression != CompressionType.NONE else body
    size = HEADER_SIZE + len(payload)
    batch = bytearray(size)
    BATCH_HEADER.pack_into(
        batch,
        0,
        base_offset,
        size - LOG_OVERHEAD,
        partition_leader_epoch,
        MAGIC,
        0,
        attributes,
        last_offset_delta,
        base_timestamp,
        max_timestamp,
        producer_id,
        producer_epoch,
        base_sequence,
        len(records),
    )
    batch[HEADER_SIZE:] = payload
    write_crc(batch, 0, size)
    return batch


def _write_bytes(out: bytearray, data: bytes | None) -> None:
    if data is None:
        write_varint(out, -1)
    else:
        write_varint(out, len(data))
        out += data
