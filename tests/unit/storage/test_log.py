"""Log: leader appends, reads, rolls, offsets by timestamp, duplicates, flush, close/reopen."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from brook.records.batch import iter_batches, read_batch_header
from brook.records.record import decode_records, iter_records_in_batches
from brook.storage.errors import (
    CorruptRecordError,
    InvalidRecordError,
    InvalidTimestampError,
    OffsetOutOfRangeError,
    OutOfOrderSequenceError,
    RecordBatchTooLargeError,
    RecordTooLargeError,
)
from brook.storage.log import Log
from brook.storage.log_config import LogConfig
from tests.support.storage_batches import config, make_batch


def open_log(
    directory: Path,
    cfg: LogConfig | None = None,
    *,
    clean: bool = True,
    now_ms: int = 0,
    recovery_point: int = 0,
    log_start_offset: int = 0,
) -> Log:
    return Log.open(
        directory,
        cfg or config(),
        recovery_point=recovery_point,
        log_start_offset=log_start_offset,
        clean_shutdown=clean,
        now_ms=now_ms,
    )


def produce(log: Log, count: int = 1, *, epoch: int = 0, now_ms: int = 1_000, **kw: int):
    kw.setdefault("timestamp", now_ms)
    return log.append_as_leader(memoryview(make_batch(count, **kw)), epoch, now_ms)


def offsets_in(chunks: list[memoryview]) -> list[int]:
    return [r.offset for chunk in chunks for r in iter_records_in_batches(chunk)]


def test_append_assigns_offsets_and_reads_back(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0")
    first = produce(log, 3, base_offset=777)
    second = produce(log, 2)
    assert (first.first_offset, first.last_offset, first.num_messages) == (0, 2, 3)
    assert (second.first_offset, second.last_offset) == (3, 4)
    assert first.log_append_time == -1 and first.max_timestamp == 1_002
    assert log.log_end_offset == 5
    data = log.read(0, 1 << 20, max_offset=5, min_one_batch=True)
    assert offsets_in(data.chunks) == [0, 1, 2, 3, 4]
    header = read_batch_header(data.chunks[0])
    assert header.partition_leader_epoch == 0
    assert log.leader_epoch_cache.latest_epoch == 0


def test_request_with_several_batches_is_one_append(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0")
    request = make_batch(2) + make_batch(3)
    info = log.append_as_leader(memoryview(request), 4, 1_000)
    assert (info.first_offset, info.last_offset, info.valid_bytes) == (0, 4, len(request))
    assert [h.base_offset for _, h in iter_batches(request)] == [0, 2]
    assert log.active_segment.size_bytes == len(request)


def test_read_bounds(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0")
    sizes = [produce(log, 2).valid_bytes for _ in range(5)]
    assert log.read(10, 100, max_offset=10, min_one_batch=True).chunks == []
    with pytest.raises(OffsetOutOfRangeError):
        log.read(11, 100, max_offset=10, min_one_batch=True)
    # max_offset (high watermark) is exclusive and whole batches only
    assert offsets_in(log.read(0, 1 << 20, max_offset=4, min_one_batch=True).chunks) == [0, 1, 2, 3]
    assert log.read(4, 1 << 20, max_offset=4, min_one_batch=True).chunks == []
    # max_bytes smaller than a batch: nothing, or one batch with min_one_batch
    assert log.read(0, 10, max_offset=10, min_one_batch=False).chunks == []
    one = log.read(0, 10, max_offset=10, min_one_batch=True)
    assert one.size == sizes[0]
    two = log.read(3, sizes[0] * 2, max_offset=10, min_one_batch=False)
    assert offsets_in(two.chunks) == [2, 3, 4, 5]
    assert two.fetch_offset_metadata.relative_position_in_segment == sizes[0]


def test_roll_by_size_and_reads_span_segments(tmp_path: Path) -> None:
    batch_size = len(make_batch(1))
    log = open_log(tmp_path / "t-0", config(segment_bytes=batch_size * 3))
    for _ in range(10):
        produce(log)
    assert log.num_segments == 4
    assert [s.base_offset for s in log.segments] == [0, 3, 6, 9]
    assert log.pending_flush_offset == 9
    everything = log.read(0, 1 << 20, max_offset=10, min_one_batch=True)
    assert len(everything.chunks) == 4
    assert offsets_in(everything.chunks) == list(range(10))
    middle = log.read(4, batch_size * 3, max_offset=10, min_one_batch=True)
    assert offsets_in(middle.chunks) == [4, 5, 6]
    bounded = log.read(1, 1 << 20, max_offset=7, min_one_batch=True)
    assert offsets_in(bounded.chunks) == [1, 2, 3, 4, 5, 6]


def test_roll_by_time(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0", config(segment_ms=1000))
    produce(log, now_ms=10_000)
    produce(log, now_ms=10_500)
    assert log.num_segments == 1
    produce(log, now_ms=11_001)
    assert log.num_segments == 2
    assert log.active_segment.base_offset == 2


def test_roll_when_index_is_full(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0", config(segment_index_bytes=4 * 8, index_interval_bytes=1))
    for _ in range(12):
        produce(log)
    assert log.num_segments > 1
    assert offsets_in(log.read(0, 1 << 20, 12, True).chunks) == list(range(12))


def test_validation_errors_write_nothing(tmp_path: Path) -> None:
    log = open_log(
        tmp_path / "t-0",
        config(
            max_message_bytes=200,
            message_timestamp_before_max_ms=1000,
            message_timestamp_after_max_ms=1000,
        ),
    )
    with pytest.raises(RecordTooLargeError):
        log.append_as_leader(memoryview(make_batch(1) + make_batch(1, value_size=500)), 0, 1_000)
    with pytest.raises(InvalidTimestampError):
        produce(log, now_ms=5_000, timestamp=1_000)
    with pytest.raises(InvalidTimestampError):
        produce(log, now_ms=5_000, timestamp=6_001)
    corrupt = make_batch(1)
    corrupt[-1] ^= 1
    with pytest.raises(CorruptRecordError):
        log.append_as_leader(memoryview(make_batch(1) + corrupt), 0, 1_000)
    control = make_batch(1)
    with pytest.raises(InvalidRecordError):
        from brook.records.record import build_batch

        log.append_as_leader(
            memoryview(build_batch([(None, b"x", [], 1000)], is_control=True)), 0, 1000
        )
    assert log.log_end_offset == 0 and log.size_bytes == 0
    assert control


def test_request_larger_than_segment(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0", config(segment_bytes=100))
    with pytest.raises(RecordBatchTooLargeError):
        produce(log, 5)


def test_log_append_time(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0", config(message_timestamp_type="LogAppendTime"))
    info = produce(log, 2, now_ms=42_000, timestamp=5)
    assert info.log_append_time == 42_000 and info.max_timestamp == 42_000
    data = log.read(0, 1 << 20, 2, True)
    records = decode_records(data.chunks[0])
    assert [r.timestamp for r in records] == [42_000, 42_000]


def test_idempotent_duplicates_and_sequence_errors(tmp_path: Path) -> None:
    directory = tmp_path / "t-0"
    log = open_log(directory)
    pid = dict(producer_id=7, producer_epoch=0)
    produce(log, 2)
    first = produce(log, 3, base_sequence=0, **pid)
    produce(log, 2, base_sequence=3, **pid)
    dup = produce(log, 3, base_sequence=0, **pid)
    assert dup.duplicate and (dup.first_offset, dup.last_offset) == (
        first.first_offset,
        first.last_offset,
    )
    assert log.log_end_offset == 7
    with pytest.raises(OutOfOrderSequenceError):
        produce(log, 1, base_sequence=9, **pid)
    log.close()
    reopened = open_log(directory)
    again = produce(reopened, 3, base_sequence=0, **pid)
    assert again.duplicate and again.first_offset == 2
    assert produce(reopened, 1, base_sequence=5, **pid).first_offset == 7


def test_duplicates_detected_after_unclean_restart(tmp_path: Path) -> None:
    directory = tmp_path / "t-0"
    log = open_log(directory)
    pid = dict(producer_id=9, producer_epoch=1)
    produce(log, 2, base_sequence=0, **pid)
    produce(log, 2, base_sequence=2, **pid)
    log.flush()
    for segment in log.segments:
        segment.close_handlers()  # a crash: no close, no snapshot
    reopened = open_log(directory, clean=False, recovery_point=0)
    assert reopened.log_end_offset == 4
    dup = produce(reopened, 2, base_sequence=2, **pid)
    assert dup.duplicate and dup.first_offset == 2


def test_offset_by_timestamp(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0", config(segment_bytes=300))
    for i in range(10):
        produce(log, 2, timestamp=1000 + i * 100, epoch=i // 5)
    assert log.num_segments > 1
    found = log.fetch_offset_by_timestamp(1250)
    assert found is not None and (found.offset, found.timestamp) == (6, 1300)
    assert log.fetch_offset_by_timestamp(1302) == (1400, 8, 0)
    assert log.fetch_offset_by_timestamp(1_000_000) is None
    assert log.fetch_offset_by_timestamp(-2) == (-1, 0, 0)
    assert log.fetch_offset_by_timestamp(-1) == (-1, 20, 1)
    assert log.offset_of_max_timestamp() == (1901, 19, 1)


def test_close_and_reopen_clean(tmp_path: Path) -> None:
    directory = tmp_path / "t-0"
    log = open_log(directory, config(segment_bytes=400))
    for _ in range(20):
        produce(log, 2)
    segments = log.num_segments
    log.flush()
    log.close()
    reopened = open_log(directory, config(segment_bytes=400), recovery_point=40)
    assert reopened.log_end_offset == 40 and reopened.num_segments == segments
    assert reopened.recovery_point == 40
    assert offsets_in(reopened.read(0, 1 << 20, 40, True).chunks) == list(range(40))
    assert produce(reopened).first_offset == 40


def test_flush_in_thread_while_appending(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0", config(segment_bytes=4096))
    stop = threading.Event()
    errors: list[BaseException] = []

    def flusher() -> None:
        try:
            while not stop.is_set():
                log.flush()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=flusher)
    thread.start()
    try:
        for _ in range(2000):
            produce(log, 1)
            if log.num_segments > 3:
                log.delete_old_segments(10**12)  # retention deletes while flushing
    finally:
        stop.set()
        thread.join()
    assert not errors
    log.flush()
    assert log.recovery_point == log.log_end_offset == 2000
    assert offsets_in(log.read(log.log_start_offset, 1 << 30, 2000, True).chunks) == list(
        range(log.log_start_offset, 2000)
    )


def test_partition_metadata(tmp_path: Path) -> None:
    directory = tmp_path / "t-0"
    topic_id = bytes(range(16))
    log = Log.open(
        directory,
        config(),
        recovery_point=0,
        log_start_offset=0,
        clean_shutdown=True,
        now_ms=0,
        topic_id=topic_id,
    )
    assert (
        directory / "partition.metadata"
    ).read_text() == "version: 0\ntopic_id: AAECAwQFBgcICQoLDA0ODw\n"
    log.close()
    assert open_log(directory).topic_id == topic_id


def test_offset_of_max_timestamp_is_the_record_not_its_batch(tmp_path: Path) -> None:
    log = open_log(tmp_path)
    log.append_as_leader(memoryview(make_batch(3, timestamps=[1_005, 1_050, 1_007])), 0, 2_000)
    found = log.offset_of_max_timestamp()
    assert (found.offset, found.timestamp) == (1, 1_050)


def test_malformed_partition_metadata_is_rewritten_not_fatal(tmp_path: Path) -> None:
    log = open_log(tmp_path)
    log.close()
    (log.dir / "partition.metadata").write_text("")  # as a crash can leave it (no fsync)
    topic_id = bytes(range(16))
    reopened = Log.open(log.dir, LogConfig.default(), recovery_point=0, log_start_offset=0,
                        clean_shutdown=False, now_ms=1_000, topic_id=topic_id)
    assert "topic_id" in (reopened.dir / "partition.metadata").read_text()


def test_compacted_topic_refuses_keyless_records(tmp_path: Path) -> None:
    from brook.records.errors import InvalidRecordError
    from brook.records.record import build_batch

    log = open_log(tmp_path, LogConfig.from_props({"cleanup.policy": "compact"}))
    keyless = build_batch([(None, b"v", (), 1_000)])
    with pytest.raises(InvalidRecordError, match="without key"):
        log.append_as_leader(memoryview(keyless), 0, 1_000)
    assert log.log_end_offset == 0
    keyed = build_batch([(b"k", b"v", (), 1_000), (b"k", None, (), 1_000)])
    assert log.append_as_leader(memoryview(keyed), 0, 1_000).first_offset == 0
