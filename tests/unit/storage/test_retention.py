"""Retention by time, size and log start offset; DeleteRecords; truncation."""

from __future__ import annotations

from pathlib import Path

import pytest

from brook.records.record import iter_records_in_batches
from brook.storage.errors import OffsetOutOfRangeError
from brook.storage.log import Log
from brook.storage.log_config import LogConfig
from tests.support.storage_batches import config, make_batch

BATCH = len(make_batch(2))


def open_log(directory: Path, cfg: LogConfig) -> Log:
    return Log.open(
        directory, cfg, recovery_point=0, log_start_offset=0, clean_shutdown=True, now_ms=0
    )


def fill(log: Log, batches: int, *, timestamp: int = 1_000, step: int = 0) -> None:
    for i in range(batches):
        ts = timestamp + i * step
        log.append_as_leader(memoryview(make_batch(2, timestamp=ts)), 0, ts)


def offsets(log: Log, start: int) -> list[int]:
    data = log.read(start, 1 << 30, log.log_end_offset, True)
    return [r.offset for chunk in data.chunks for r in iter_records_in_batches(chunk)]


def test_retention_by_time(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0", config(segment_bytes=BATCH * 2, retention_ms=10_000))
    fill(log, 8, timestamp=1_000, step=1_000)  # segments of two batches: max ts 2001, 4001, ...
    assert log.num_segments == 4
    assert log.delete_old_segments(now_ms=13_000) == 1
    assert log.log_start_offset == 4
    assert log.delete_old_segments(now_ms=16_000) == 1  # 4001 expired, 6001 not yet
    assert log.log_start_offset == 8
    assert log.delete_old_segments(now_ms=16_002) == 1
    assert log.log_start_offset == 12
    with pytest.raises(OffsetOutOfRangeError):
        log.read(0, 100, 100, True)
    # Everything expired: the active segment is rolled and deleted too.
    assert log.delete_old_segments(now_ms=100_000) == 1
    assert log.num_segments == 1 and log.active_segment.size_bytes == 0
    assert log.log_start_offset == log.log_end_offset == 16
    assert log.append_as_leader(memoryview(make_batch(1)), 0, 100_000).first_offset == 16


def test_retention_by_bytes(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0", config(segment_bytes=BATCH * 2, retention_bytes=BATCH * 5))
    fill(log, 9)
    assert log.num_segments == 5
    assert log.delete_old_segments(now_ms=2_000) == 2
    assert log.size_bytes == BATCH * 5
    assert log.log_start_offset == 8


def test_retention_respects_high_watermark_and_policy(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0", config(segment_bytes=BATCH * 2, retention_ms=0))
    fill(log, 6)
    assert log.delete_old_segments(now_ms=10**9, high_watermark=5) == 1
    assert log.log_start_offset == 4
    compacted = open_log(
        tmp_path / "c-0", config(segment_bytes=BATCH * 2, retention_ms=0, cleanup_policy="compact")
    )
    fill(compacted, 6)
    assert compacted.delete_old_segments(now_ms=10**9) == 0


def test_delete_records_mid_segment(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0", config(segment_bytes=BATCH * 2))
    fill(log, 6)  # segments at 0, 4, 8
    assert log.maybe_increment_log_start_offset(5)
    assert log.log_start_offset == 5
    assert [s.base_offset for s in log.segments] == [4, 8]
    with pytest.raises(OffsetOutOfRangeError):
        log.read(4, 100, 12, True)
    assert offsets(log, 5)[:3] == [4, 5, 6]  # the batch holding 5 is returned whole
    assert not log.maybe_increment_log_start_offset(3)
    with pytest.raises(OffsetOutOfRangeError):
        log.maybe_increment_log_start_offset(13)
    assert log.fetch_offset_by_timestamp(-2) == (-1, 5, 0)


def test_truncate_to(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0", config(segment_bytes=BATCH * 2))
    fill(log, 6)
    log.flush()
    assert log.truncate_to(6)
    assert log.log_end_offset == 6 and log.recovery_point == 6
    assert [s.base_offset for s in log.segments] == [0, 4]
    assert offsets(log, 0) == list(range(6))
    assert not log.truncate_to(6)
    assert log.append_as_leader(memoryview(make_batch(2)), 1, 1_000).first_offset == 6
    assert [tuple(e) for e in log.leader_epoch_cache.entries] == [(0, 0), (1, 6)]
    assert log.truncate_to(4)
    assert log.leader_epoch_cache.latest_epoch == 0
    assert log.log_end_offset == 4


def test_truncate_restores_producer_state(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0", config())
    pid = dict(producer_id=3, producer_epoch=0)
    log.append_as_leader(memoryview(make_batch(2, base_sequence=0, **pid)), 0, 1_000)
    log.append_as_leader(memoryview(make_batch(2, base_sequence=2, **pid)), 0, 1_000)
    log.truncate_to(2)
    info = log.append_as_leader(memoryview(make_batch(2, base_sequence=2, **pid)), 0, 1_000)
    assert not info.duplicate and info.first_offset == 2


def test_truncate_fully_and_start_at(tmp_path: Path) -> None:
    directory = tmp_path / "t-0"
    log = open_log(directory, config(segment_bytes=BATCH * 2))
    fill(log, 6)
    log.truncate_fully_and_start_at(100)
    assert (log.log_start_offset, log.log_end_offset, log.num_segments) == (100, 100, 1)
    assert log.append_as_leader(memoryview(make_batch(1)), 2, 1_000).first_offset == 100
    assert sorted(p.name for p in directory.glob("*.log")) == ["00000000000000000100.log"]
    log.close()
    reopened = Log.open(
        directory, config(), recovery_point=101, log_start_offset=100, clean_shutdown=True, now_ms=0
    )
    assert (reopened.log_start_offset, reopened.log_end_offset) == (100, 101)
