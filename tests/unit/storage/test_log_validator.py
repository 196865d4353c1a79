"""The leader's validation of produced batches: every rule, through ``Log.append_as_leader``.

Each test shows a batch that is refused with the code Kafka gives and leaves the log
untouched, then a valid batch that is appended at the offset the bad one would have taken.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from brook.records.batch import (
    ATTRIBUTES_OFFSET,
    BASE_SEQUENCE_OFFSET,
    HEADER_SIZE,
    MAX_TIMESTAMP_OFFSET,
    RECORDS_COUNT_OFFSET,
    TIMESTAMP_TYPE_MASK,
    iter_batches,
    read_batch_header,
    write_crc,
)
from brook.records.compression import CompressionType
from brook.records.errors import CorruptRecordError, InvalidRecordError
from brook.records.record import build_batch, iter_records_in_batches
from brook.records.validate import RecordError
from brook.storage.errors import InvalidTimestampError, StorageError
from brook.storage.log import Log
from brook.storage.log_config import LogConfig
from brook.storage.log_validator import (
    InvalidTxnStateError,
    RecordTimestampError,
    UnsupportedCompressionTypeError,
    decompressed_limit,
)
from tests.support.storage_batches import config

NOW = 1_700_000_000_000
CODECS = list(CompressionType)


def open_log(directory: Path, cfg: LogConfig | None = None) -> Log:
    return Log.open(directory, cfg or config(), recovery_point=0, log_start_offset=0,
                    clean_shutdown=True, now_ms=NOW)  # fmt: skip


def batch(count: int = 3, *, compression: int = 0, **kw: object) -> bytearray:
    records = [(b"k%d" % i, b"value-%d" % i, [("h", b"x")], NOW + i) for i in range(count)]
    return build_batch(records, compression=compression, **kw)  # type: ignore[arg-type]


def patched(buf: bytearray, offset: int, fmt: str, value: int) -> bytearray:
    """``buf`` with one header field overwritten and the CRC made right again."""
    out = bytearray(buf)
    struct.pack_into(fmt, out, offset, value)
    write_crc(out, 0, len(out))
    return out


def append(log: Log, data: bytearray) -> int:
    return log.append_as_leader(memoryview(data), 0, NOW).first_offset


def stored(log: Log) -> list[tuple[int, bytes | None]]:
    chunks = log.read(0, 1 << 20, log.log_end_offset, True).chunks
    return [(r.offset, r.value) for c in chunks for r in iter_records_in_batches(c)]


def refused_then_valid(tmp_path: Path, bad: bytearray, error: type[Exception]) -> Exception:
    log = open_log(tmp_path)
    with pytest.raises(error) as info:
        append(log, bad)
    assert log.log_end_offset == 0
    assert append(log, batch(2)) == 0
    assert [o for o, _ in stored(log)] == [0, 1]
    return info.value


@pytest.mark.parametrize("codec", CODECS)
def test_lying_record_count(tmp_path: Path, codec: int) -> None:
    good = batch(3, compression=codec)
    # Claim 4 records: the offset range must then say 4 too, or the header check answers first.
    lying = patched(patched(good, RECORDS_COUNT_OFFSET, ">i", 4), 23, ">i", 3)
    refused_then_valid(tmp_path, lying, InvalidRecordError)


def test_fewer_records_claimed_than_present(tmp_path: Path) -> None:
    lying = patched(patched(batch(3), RECORDS_COUNT_OFFSET, ">i", 2), 23, ">i", 1)
    refused_then_valid(tmp_path, lying, InvalidRecordError)


@pytest.mark.parametrize("codec", CODECS)
def test_garbage_records_under_a_valid_crc(tmp_path: Path, codec: int) -> None:
    good = batch(3, compression=codec)
    garbage = bytearray(good[:HEADER_SIZE]) + bytes(range(200, 256)) * 3
    struct.pack_into(">i", garbage, 8, len(garbage) - 12)
    write_crc(garbage, 0, len(garbage))
    refused_then_valid(tmp_path, garbage, InvalidRecordError)


@pytest.mark.parametrize("codec", [5, 6, 7])
def test_unknown_compression_codec(tmp_path: Path, codec: int) -> None:
    bad = patched(batch(2), ATTRIBUTES_OFFSET, ">h", codec)
    refused_then_valid(tmp_path, bad, UnsupportedCompressionTypeError)


def test_non_consecutive_offset_deltas(tmp_path: Path) -> None:
    records = [(b"k", b"v", (), NOW)] * 3
    bad = build_batch(records, offset_deltas=[0, 2, 1], last_offset_delta=2)
    err = refused_then_valid(tmp_path, bad, RecordError)
    assert isinstance(err, RecordError) and err.index == 1


def test_lying_max_timestamp_is_replaced_by_the_true_one(tmp_path: Path) -> None:
    year_2286 = 9_999_999_999_999
    log = open_log(tmp_path)
    append(log, patched(batch(3), MAX_TIMESTAMP_OFFSET, ">q", year_2286))
    header = read_batch_header(log.read(0, 1 << 20, 3, True).chunks[0])
    assert header.max_timestamp == NOW + 2
    found = log.offset_of_max_timestamp()
    assert (found.offset, found.timestamp) == (2, NOW + 2)
    # The rewritten batch is still valid: its CRC was recomputed.
    assert [o for o, _ in stored(log)] == [0, 1, 2]


def test_log_append_time_bit_from_a_producer_is_cleared_on_a_create_time_topic(
    tmp_path: Path,
) -> None:
    log = open_log(tmp_path)
    append(log, patched(batch(2), ATTRIBUTES_OFFSET, ">h", TIMESTAMP_TYPE_MASK))
    header = read_batch_header(log.read(0, 1 << 20, 2, True).chunks[0])
    assert header.timestamp_type == 0 and header.max_timestamp == NOW + 1


@pytest.mark.parametrize("codec", [0, 4])
def test_every_record_timestamp_is_checked(tmp_path: Path, codec: int) -> None:
    """The first and last records are in range; a middle one is a day old."""
    log = open_log(tmp_path, config(message_timestamp_before_max_ms=3_600_000))
    stamps = [NOW, NOW - 86_400_000, NOW + 1]
    bad = build_batch([(b"k", b"v", (), t) for t in stamps], compression=codec)
    with pytest.raises(RecordTimestampError) as info:
        append(log, bad)
    assert [i for i, _ in info.value.record_errors] == [1]
    assert log.log_end_offset == 0


def test_deprecated_difference_max_ms_applies_when_before_after_are_default(
    tmp_path: Path,
) -> None:
    log = open_log(tmp_path, config(message_timestamp_difference_max_ms=1_000))
    with pytest.raises(InvalidTimestampError):
        append(log, build_batch([(b"k", b"v", (), NOW + 5_000)]))
    log2 = open_log(tmp_path / "b", config(message_timestamp_difference_max_ms=1_000,
                                            message_timestamp_after_max_ms=10_000))  # fmt: skip
    assert append(log2, build_batch([(b"k", b"v", (), NOW + 5_000)])) == 0


def test_transactional_batch_from_a_client(tmp_path: Path) -> None:
    bad = batch(2, producer_id=7, producer_epoch=0, base_sequence=0, is_transactional=True)
    refused_then_valid(tmp_path, bad, InvalidTxnStateError)


def test_control_batch_from_a_client(tmp_path: Path) -> None:
    bad = build_batch([(b"\x00\x00\x00\x00", b"", (), NOW)], is_control=True)
    refused_then_valid(tmp_path, bad, InvalidRecordError)


@pytest.mark.parametrize(
    ("producer_id", "epoch", "sequence"), [(7, 0, -1), (7, -1, 0), (-5, 0, 0)]
)
def test_inconsistent_idempotence_fields(
    tmp_path: Path, producer_id: int, epoch: int, sequence: int
) -> None:
    bad = batch(2, producer_id=producer_id, producer_epoch=epoch, base_sequence=sequence)
    refused_then_valid(tmp_path, bad, InvalidRecordError)


def test_idempotent_batch_is_accepted(tmp_path: Path) -> None:
    log = open_log(tmp_path)
    assert append(log, batch(2, producer_id=7, producer_epoch=0, base_sequence=0)) == 0
    bad = patched(batch(2, producer_id=7, producer_epoch=0, base_sequence=2),
                  BASE_SEQUENCE_OFFSET, ">i", -3)  # fmt: skip
    with pytest.raises(InvalidRecordError):
        append(log, bad)


def test_compacted_topic_refuses_keyless_records_in_compressed_batches(tmp_path: Path) -> None:
    log = open_log(tmp_path, config(cleanup_policy="compact"))
    bad = build_batch([(b"k", b"v", (), NOW), (None, b"v", (), NOW)], compression=4)
    with pytest.raises(InvalidRecordError, match="without key"):
        append(log, bad)


def test_decompression_bomb_is_refused(tmp_path: Path) -> None:
    """A few KB of zstd that inflate past the limit, and a count its size cannot hold."""
    limit = decompressed_limit(LogConfig.default().max_message_bytes)
    big = [(b"k", bytes(1 << 20), (), NOW) for _ in range(limit // (1 << 20) + 1)]
    bomb = build_batch(big, compression=CompressionType.ZSTD)
    assert len(bomb) < 100_000
    refused_then_valid(tmp_path, bomb, InvalidRecordError)
    many = patched(patched(batch(3, compression=4), RECORDS_COUNT_OFFSET, ">i", 9_600_000),
                   23, ">i", 9_599_999)  # fmt: skip
    with pytest.raises(InvalidRecordError, match="cannot fit"):
        append(open_log(tmp_path / "b"), many)


@pytest.mark.parametrize("codec", CODECS)
def test_valid_batches_of_every_codec_are_stored(tmp_path: Path, codec: int) -> None:
    log = open_log(tmp_path)
    assert append(log, batch(50, compression=codec)) == 0
    assert len(stored(log)) == 50


_codecs = st.sampled_from([0, 0, 0, 1, 2, 3, 4])
_flips = st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=4)


def _check_mutated(directory: Path, codec: int, count: int, flips: list[tuple[int, int]],
                   fix_crc: bool) -> None:
    """Flip bytes anywhere past the base offset: the append either refuses with a storage or
    record error, or stores a batch a consumer can decode in full, with dense offsets."""
    data = batch(count, compression=codec)
    for where, byte in flips:
        data[8 + where % (len(data) - 8)] = byte
    if fix_crc:
        write_crc(data, 0, len(data))
    log = open_log(directory)
    try:
        append(log, data)
    except (StorageError, CorruptRecordError, InvalidRecordError):
        assert log.log_end_offset == 0
        return
    records = stored(log)
    assert [o for o, _ in records] == list(range(len(records)))
    assert len(records) == log.log_end_offset


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(codec=_codecs, count=st.integers(1, 6), flips=_flips, fix_crc=st.booleans())
def test_mutated_batches_are_refused_or_still_valid(
    tmp_path_factory: pytest.TempPathFactory, codec: int, count: int,
    flips: list[tuple[int, int]], fix_crc: bool,
) -> None:  # fmt: skip
    _check_mutated(tmp_path_factory.mktemp("m"), codec, count, flips, fix_crc)


@pytest.mark.slow
@settings(max_examples=5_000, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(codec=_codecs, count=st.integers(1, 30), flips=_flips, fix_crc=st.booleans())
def test_mutated_batches_are_refused_or_still_valid_long(
    tmp_path_factory: pytest.TempPathFactory, codec: int, count: int,
    flips: list[tuple[int, int]], fix_crc: bool,
) -> None:  # fmt: skip
    _check_mutated(tmp_path_factory.mktemp("m"), codec, count, flips, fix_crc)


@pytest.mark.parametrize("source", CODECS)
@pytest.mark.parametrize("target", ["uncompressed", "gzip", "snappy", "lz4", "zstd", "producer"])
def test_topic_compression_type_is_applied(tmp_path: Path, source: int, target: str) -> None:
    log = open_log(tmp_path, config(compression_type=target))
    append(log, batch(2))  # another batch in the same log first: offsets keep counting
    first = log.append_as_leader(
        memoryview(batch(40, compression=source) + batch(5)), 0, NOW
    ).first_offset
    assert first == 2
    chunks = log.read(0, 1 << 20, log.log_end_offset, True).chunks
    codecs = {read_batch_header(c, p).compression for c in chunks for p, _ in iter_batches(c)}
    if target == "producer":
        assert codecs == {source, 0}
    else:
        assert {CompressionType(c).config_name for c in codecs} == {target}
    values = stored(log)
    assert [o for o, _ in values] == list(range(47))
    assert values[2][1] == b"value-0"


def test_recompressed_batch_larger_than_max_message_bytes(tmp_path: Path) -> None:
    import os

    records = [(b"k", os.urandom(900), (), NOW)]
    compressed = build_batch(records, compression=CompressionType.GZIP)
    log = open_log(tmp_path, config(compression_type="gzip", max_message_bytes=len(compressed) - 1))
    from brook.storage.errors import RecordTooLargeError

    with pytest.raises(RecordTooLargeError, match="after recompression"):
        append(log, build_batch(records))
