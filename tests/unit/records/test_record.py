from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kafka.record.default_records import DefaultRecordBatch

from brook.records.batch import LOG_APPEND_TIME, read_batch_header, validate_batch
from brook.records.compression import CompressionType
from brook.records.errors import CorruptRecordError, InvalidRecordError
from brook.records.record import (
    Record,
    RecordInput,
    build_batch,
    decode_records,
    iter_records_in_batches,
)

Rec = tuple[bytes | None, bytes | None, list[tuple[str, bytes | None]], int]
RECORDS: list[Rec] = [
    (b"key-1", b"value-1", [("trace", b"abc"), ("empty", b""), ("null", None)], 1_700_000_000_000),
    (None, b"no key", [], 1_699_999_999_000),  # negative timestamp delta
    (b"tombstone", None, [], 1_700_000_000_500),
    (b"", b"", [("\u00e9t\u00e9", b"\x00\xff")], 1_700_000_000_000),
]


def _expected(
    records: list[tuple[bytes | None, bytes | None, list[tuple[str, bytes | None]], int]],
    base_offset: int = 0,
) -> list[tuple[object, ...]]:
    return [(base_offset + i, t, k, v, tuple(h)) for i, (k, v, h, t) in enumerate(records)]


def _summary(records: list[Record]) -> list[tuple[object, ...]]:
    return [(r.offset, r.timestamp, r.key, r.value, r.headers) for r in records]


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"producer_id": 5, "producer_epoch": 2, "base_sequence": 100},
        {"producer_id": 5, "producer_epoch": 2, "base_sequence": 0, "is_transactional": True},
    ],
)
def test_uncompressed_bytes_equal_kafka_python(
    kafka_python_batch: Callable[..., bytes], options: dict[str, int]
) -> None:
    ours = build_batch(RECORDS, partition_leader_epoch=0, **options)  # type: ignore[arg-type]
    assert bytes(ours) == kafka_python_batch(RECORDS, **options)


def test_single_record_bytes_equal_kafka_python(kafka_python_batch: Callable[..., bytes]) -> None:
    one: list[Rec] = [(None, b"v", [], 0)]
    assert bytes(build_batch(one, partition_leader_epoch=0)) == kafka_python_batch(one)


@pytest.mark.parametrize("codec", list(CompressionType), ids=lambda c: c.name)
def test_decode_kafka_python_batches(
    kafka_python_batch: Callable[..., bytes], codec: CompressionType
) -> None:
    data = kafka_python_batch(RECORDS * 50, compression=int(codec), base_offset=1000)
    header = read_batch_header(data)
    assert header.compression == codec
    records = decode_records(data)
    assert _summary(records) == _expected(RECORDS * 50, 1000)


@pytest.mark.parametrize(
    "codec",
    [CompressionType.NONE, CompressionType.GZIP, CompressionType.SNAPPY],
    ids=lambda c: c.name,
)
def test_kafka_python_reads_our_batches(
    kafka_python_batch: Callable[..., bytes], codec: CompressionType
) -> None:
    """kafka-python's reader (its own gzip and xerial code; lz4/zstd have no decoder here)."""
    data = build_batch(RECORDS * 20, compression=codec, base_offset=7)
    theirs = DefaultRecordBatch(bytes(data))
    assert theirs.validate_crc()
    got = [(r.offset, r.timestamp, r.key, r.value, tuple(r.headers)) for r in theirs]
    assert got == _expected(RECORDS * 20, 7)


@pytest.mark.parametrize("codec", list(CompressionType), ids=lambda c: c.name)
def test_round_trip_every_codec(codec: CompressionType) -> None:
    data = build_batch(
        RECORDS, compression=codec, base_offset=10, partition_leader_epoch=3, producer_id=9
    )
    records = decode_records(memoryview(data))
    assert _summary(records) == _expected(RECORDS, 10)
    assert all(r.leader_epoch == 3 and r.producer_id == 9 and not r.is_control for r in records)


def test_record_input_type_and_batch_flags() -> None:
    data = build_batch(
        [RecordInput(b"\x00\x00\x00\x01", b"", (), 5)], is_control=True, is_transactional=True
    )
    (record,) = decode_records(data)
    assert record.is_control and record.is_transactional


def test_base_timestamp_override_and_log_append_time_flag() -> None:
    data = build_batch(RECORDS, base_timestamp=0, timestamp_type=LOG_APPEND_TIME)
    header = read_batch_header(data)
    assert header.base_timestamp == 0
    assert header.timestamp_type == LOG_APPEND_TIME
    assert {r.timestamp for r in decode_records(data)} == {header.max_timestamp}


def test_compacted_batch_keeps_offsets_and_last_offset() -> None:
    kept = [RECORDS[0], RECORDS[3]]
    data = build_batch(
        kept, base_offset=100, offset_deltas=[0, 3], last_offset_delta=9, delete_horizon_ms=5_000
    )
    header = read_batch_header(data)
    assert header.last_offset == 109
    assert header.records_count == 2
    assert header.has_delete_horizon and header.base_timestamp == 5_000
    assert [(r.offset, r.timestamp) for r in decode_records(data)] == [
        (100, RECORDS[0][3]),
        (103, RECORDS[3][3]),
    ]


def test_empty_batch() -> None:
    data = build_batch([], base_offset=50, last_offset_delta=4)
    header = read_batch_header(data)
    validate_batch(data, 0, header)
    assert header.records_count == 0 and header.last_offset == 54
    assert decode_records(data) == []
    with pytest.raises(ValueError):
        build_batch([])


def test_build_argument_errors() -> None:
    with pytest.raises(ValueError):
        build_batch(RECORDS, offset_deltas=[0])
    with pytest.raises(ValueError):
        build_batch(RECORDS, last_offset_delta=1)


def test_iter_records_in_batches_skips_partial_tail() -> None:
    first = build_batch(RECORDS, base_offset=0)
    second = build_batch(RECORDS, base_offset=4, compression=CompressionType.ZSTD)
    payload = bytes(first + second + first[:40])
    assert [r.offset for r in iter_records_in_batches(payload)] == list(range(8))


def test_every_truncation_of_a_batch_is_detected() -> None:
    data = bytes(build_batch(RECORDS))
    for cut in range(len(data)):
        with pytest.raises(CorruptRecordError):
            decode_records(data[:cut])


@pytest.mark.parametrize("codec", list(CompressionType), ids=lambda c: c.name)
def test_crc_corruption_is_detected(codec: CompressionType) -> None:
    data = build_batch(RECORDS, compression=codec)
    data[-2] ^= 0x40
    with pytest.raises(CorruptRecordError):
        decode_records(data)


def _with_body(body: bytes, count: int) -> bytearray:
    """A batch with a hand-written records section and a correct CRC."""
    data = build_batch([], last_offset_delta=max(count - 1, 0))
    data[57:61] = count.to_bytes(4, "big", signed=True)
    data += body
    data[8:12] = (len(data) - 12).to_bytes(4, "big")
    from brook.records.batch import write_crc

    write_crc(data, 0, len(data))
    return data


@pytest.mark.parametrize(
    ("body", "count"),
    [
        (b"\x0c\x00\x00\x00\x03\x01\x00", 1),  # key length -2
        (b"\x0c\x00\x00\x00\x10\x01\x00", 1),  # key runs past the record
        (b"\x0c\x00\x00\x00\x01\x01\x02", 1),  # header count 1 without header bytes
        (b"\x0c\x00\x00\x00\x01\x01", 1),  # record shorter than its length
        (b"\x0c\x00\x00\x00\x01\x01\x00", 2),  # fewer records than the count
        (b"\x0c\x00\x00\x00\x01\x01\x00\x00", 1),  # trailing byte after the last record
        (b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 1),  # overlong varint
        (b"\x0e\x00\x00\x00\x01\x01\x02\x01", 1),  # null header key
        (b"\x10\x00\x00\x00\x01\x01\x02\x02\xff\x01", 1),  # header key not UTF-8
    ],
)
def test_malformed_records_raise_corrupt(body: bytes, count: int) -> None:
    with pytest.raises(CorruptRecordError):
        decode_records(_with_body(body, count))


def test_well_formed_hand_written_record() -> None:
    (record,) = decode_records(_with_body(b"\x0c\x00\x00\x00\x01\x01\x00", 1))
    assert record.key is None and record.value is None and record.headers == ()


def test_decompressed_size_limit() -> None:
    data = build_batch([(None, b"\x00" * 1_000_000, [], 0)], compression=CompressionType.GZIP)
    with pytest.raises(InvalidRecordError):
        decode_records(data, max_decompressed_size=10_000)


_headers = st.lists(st.tuples(st.text(max_size=10), st.none() | st.binary(max_size=20)), max_size=3)
_record = st.tuples(
    st.none() | st.binary(max_size=50),
    st.none() | st.binary(max_size=200),
    _headers,
    st.integers(min_value=0, max_value=2**41),
)


@settings(max_examples=150, deadline=None)
@given(
    records=st.lists(_record, min_size=1, max_size=20),
    codec=st.sampled_from(list(CompressionType)),
    base_offset=st.integers(min_value=0, max_value=2**62),
)
def test_hypothesis_round_trip(
    records: list[tuple[bytes | None, bytes | None, list[tuple[str, bytes | None]], int]],
    codec: CompressionType,
    base_offset: int,
) -> None:
    data = build_batch(records, compression=codec, base_offset=base_offset)
    header = read_batch_header(data)
    validate_batch(data, 0, header)
    assert header.max_timestamp == max(r[3] for r in records)
    assert _summary(decode_records(data)) == _expected(records, base_offset)
