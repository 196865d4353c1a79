from __future__ import annotations

import struct
from collections.abc import Callable

import pytest

from brook.records import batch as b
from brook.records.crc import crc32c
from brook.records.errors import CorruptRecordError, InvalidRecordError
from brook.records.record import build_batch, decode_records

RECORDS: list[tuple[bytes | None, bytes | None, list[tuple[str, bytes | None]], int]] = [
    (b"k1", b"v1", [("h", b"x")], 1_000),
    (None, b"v2", [], 1_005),
    (b"k3", None, [], 990),
]


def _batch(**kwargs: object) -> bytearray:
    return build_batch(RECORDS, **kwargs)  # type: ignore[arg-type]


def test_header_layout_matches_the_struct() -> None:
    assert b.BATCH_HEADER.size == b.HEADER_SIZE == 61
    assert b.BATCH_OVERHEAD_AFTER_LENGTH == 49
    fmt = b.BATCH_HEADER.format
    offsets = [
        struct.calcsize(fmt[: i + 2]) - struct.calcsize(fmt[i + 1 : i + 2]) for i in range(13)
    ]
    assert offsets == [
        b.BASE_OFFSET_OFFSET,
        b.LENGTH_OFFSET,
        b.PARTITION_LEADER_EPOCH_OFFSET,
        b.MAGIC_OFFSET,
        b.CRC_OFFSET,
        b.ATTRIBUTES_OFFSET,
        b.LAST_OFFSET_DELTA_OFFSET,
        b.BASE_TIMESTAMP_OFFSET,
        b.MAX_TIMESTAMP_OFFSET,
        b.PRODUCER_ID_OFFSET,
        b.PRODUCER_EPOCH_OFFSET,
        b.BASE_SEQUENCE_OFFSET,
        b.RECORDS_COUNT_OFFSET,
    ]


def test_crc32c_known_vector() -> None:
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(memoryview(bytearray(b"123456789"))) == 0xE3069283


def test_read_header_of_a_kafka_python_batch(kafka_python_batch: Callable[..., bytes]) -> None:
    data = kafka_python_batch(
        RECORDS,
        base_offset=42,
        producer_id=7,
        producer_epoch=3,
        base_sequence=10,
        is_transactional=True,
    )
    header = b.read_batch_header(memoryview(data), 0)
    assert header.base_offset == 42
    assert header.size == len(data)
    assert header.magic == 2
    assert header.last_offset_delta == 2
    assert header.last_offset == 44
    assert header.next_offset == 45
    assert header.records_count == 3
    assert header.base_timestamp == 1_000
    assert header.max_timestamp == 1_005
    assert (header.producer_id, header.producer_epoch, header.base_sequence) == (7, 3, 10)
    assert header.last_sequence == 12
    assert header.is_transactional and not header.is_control
    assert header.compression == 0 and header.timestamp_type == b.CREATE_TIME
    b.validate_batch(memoryview(data), 0, header)


def test_attribute_properties() -> None:
    header = b.read_batch_header(
        _batch(
            compression=4, is_control=True, timestamp_type=b.LOG_APPEND_TIME, delete_horizon_ms=5
        )
    )
    assert header.compression == 4
    assert header.is_control
    assert header.timestamp_type == b.LOG_APPEND_TIME
    assert header.has_delete_horizon
    assert not header.has_producer_id
    assert header.last_sequence == b.NO_SEQUENCE


def test_sequence_wraps_at_int32_max() -> None:
    header = b.read_batch_header(_batch(producer_id=1, producer_epoch=0, base_sequence=2**31 - 2))
    assert header.last_sequence == 0
    assert b.increment_sequence(2**31 - 1, 1) == 0
    assert b.increment_sequence(5, 3) == 8
    assert b.decrement_sequence(0, 1) == 2**31 - 1
    assert b.decrement_sequence(b.increment_sequence(2**31 - 3, 10), 10) == 2**31 - 3


def test_read_header_truncated() -> None:
    with pytest.raises(CorruptRecordError):
        b.read_batch_header(bytes(_batch())[:60], 0)


def test_iter_batches_yields_positions_and_stops_at_partial_tail() -> None:
    first = _batch(base_offset=0)
    second = _batch(base_offset=3)
    third = _batch(base_offset=6)
    for cut in (1, 11, 12, 30, 61, len(third) - 1):
        buf = memoryview(bytes(first + second + third[:cut]))
        got = list(b.iter_batches(buf))
        assert [pos for pos, _ in got] == [0, len(first)]
        assert [h.base_offset for _, h in got] == [0, 3]
    assert len(list(b.iter_batches(bytes(first + second + third)))) == 3
    assert list(b.iter_batches(b"")) == []
    assert [p for p, _ in b.iter_batches(bytes(first + second), len(first))] == [len(first)]


def test_iter_batches_rejects_impossible_length() -> None:
    garbage = bytearray(_batch())
    struct.pack_into(">i", garbage, b.LENGTH_OFFSET, 3)
    with pytest.raises(CorruptRecordError):
        list(b.iter_batches(garbage))
    struct.pack_into(">i", garbage, b.LENGTH_OFFSET, 20)  # complete, but shorter than a header
    with pytest.raises(CorruptRecordError):
        list(b.iter_batches(garbage))


def test_validate_detects_corruption_anywhere_under_the_crc() -> None:
    data = _batch()
    b.validate_batch(data, 0, b.read_batch_header(data))
    for index in range(b.ATTRIBUTES_OFFSET, len(data)):
        corrupt = bytearray(data)
        corrupt[index] ^= 0x01
        with pytest.raises(CorruptRecordError):
            b.validate_batch(corrupt, 0, b.read_batch_header(corrupt))


def test_validate_at_a_position_inside_a_larger_buffer() -> None:
    data = bytes(_batch() + _batch(base_offset=3))
    for pos, header in b.iter_batches(data):
        b.validate_batch(memoryview(data), pos, header)


@pytest.mark.parametrize(
    ("offset", "fmt", "value"),
    [
        (b.MAGIC_OFFSET, ">b", 1),
        (b.LENGTH_OFFSET, ">i", 48),
        (b.RECORDS_COUNT_OFFSET, ">i", -1),
        (b.RECORDS_COUNT_OFFSET, ">i", 4),
        (b.LAST_OFFSET_DELTA_OFFSET, ">i", -1),
        (b.LENGTH_OFFSET, ">i", 10_000),
    ],
)
def test_validate_structural_checks(offset: int, fmt: str, value: int) -> None:
    data = _batch()
    struct.pack_into(fmt, data, offset, value)
    if offset > b.CRC_OFFSET:
        b.write_crc(data, 0, len(data))
    with pytest.raises(CorruptRecordError):
        b.validate_batch(data, 0, b.read_batch_header(data))


def test_validate_accepts_a_compacted_batch_with_offset_gaps() -> None:
    data = build_batch([RECORDS[0], RECORDS[2]], offset_deltas=[0, 2], last_offset_delta=4)
    header = b.read_batch_header(data)
    b.validate_batch(data, 0, header)
    with pytest.raises(InvalidRecordError):
        b.validate_produce_batch(data, 0, header)


def test_validate_produce_batch() -> None:
    data = _batch(producer_id=1, producer_epoch=0, base_sequence=0)
    b.validate_produce_batch(data, 0, b.read_batch_header(data))
    empty = build_batch([], last_offset_delta=0)
    with pytest.raises(InvalidRecordError):
        b.validate_produce_batch(empty, 0, b.read_batch_header(empty))
    control = _batch(is_control=True)
    with pytest.raises(InvalidRecordError):
        b.validate_produce_batch(control, 0, b.read_batch_header(control))


def test_patching_offset_and_epoch_keeps_the_crc_valid() -> None:
    buf = bytearray(b"\x00" * 5) + _batch()
    b.patch_base_offset_and_leader_epoch(buf, 5, b.read_batch_header(buf, 5), 1_234_567, 17)
    header = b.read_batch_header(buf, 5)
    assert (header.base_offset, header.partition_leader_epoch) == (1_234_567, 17)
    b.validate_batch(buf, 5, header)
    assert [r.offset for r in decode_records(buf, 5)] == [1_234_567, 1_234_568, 1_234_569]
    assert {r.leader_epoch for r in decode_records(buf, 5)} == {17}


def test_patching_offset_and_epoch_together_leaves_the_length_and_crc_alone() -> None:
    buf = bytearray(b"\x00" * 5) + _batch()
    before = b.read_batch_header(buf, 5)
    b.patch_base_offset_and_leader_epoch(memoryview(buf), 5, before, 42, 3)
    after = b.read_batch_header(buf, 5)
    assert after == before._replace(base_offset=42, partition_leader_epoch=3)
    b.validate_batch(buf, 5, after)
    assert buf[:5] == b"\x00" * 5
    assert [r.offset for r in decode_records(buf, 5)] == [42, 43, 44]


def test_patching_through_a_memoryview() -> None:
    buf = _batch()
    b.patch_base_offset_and_leader_epoch(memoryview(buf), 0, b.read_batch_header(buf), 9, 0)
    assert b.read_batch_header(buf).base_offset == 9


def test_set_log_append_time() -> None:
    buf = _batch()
    b.set_log_append_time(buf, 0, 77_000)
    header = b.read_batch_header(buf)
    assert header.timestamp_type == b.LOG_APPEND_TIME
    assert header.max_timestamp == 77_000
    assert header.base_timestamp == 1_000
    b.validate_batch(buf, 0, header)
    assert {r.timestamp for r in decode_records(buf)} == {77_000}
    assert {r.timestamp_type for r in decode_records(buf)} == {b.LOG_APPEND_TIME}
    before = bytes(buf)
    b.set_log_append_time(buf, 0, 77_000)
    assert bytes(buf) == before


def test_write_crc_returns_stored_value() -> None:
    buf = _batch()
    struct.pack_into(">I", buf, b.CRC_OFFSET, 0)
    crc = b.write_crc(buf, 0, len(buf))
    assert b.read_batch_header(buf).crc == crc == b.compute_crc(buf, 0, len(buf))
