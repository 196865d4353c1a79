"""The loader's result and the local log's segment operations, seen without a ``Log``."""

from __future__ import annotations

from pathlib import Path

from brook.storage.local_log import LocalLog
from brook.storage.log import Log
from brook.storage.log_loader import LoadedLog, load_log
from tests.support.storage_batches import config, make_batch


def load(directory: Path, *, clean: bool, recovery_point: int = 0) -> LoadedLog:
    return load_log(
        directory, config(segment_bytes=600), recovery_point=recovery_point,
        log_start_offset=0, clean_shutdown=clean, now_ms=0, topic_id=None,
    )  # fmt: skip


def written_log(directory: Path, batches: int) -> Log:
    log = Log.open(
        directory, config(segment_bytes=600), recovery_point=0, log_start_offset=0,
        clean_shutdown=True, now_ms=0,
    )  # fmt: skip
    for _ in range(batches):
        log.append_as_leader(memoryview(make_batch(2)), 0, 1_000)
    return log


def test_an_empty_directory_loads_one_segment_whose_directory_entry_is_owed(
    tmp_path: Path,
) -> None:
    loaded = load(tmp_path / "t-0", clean=True)
    assert (loaded.log_start_offset, loaded.next_offset, loaded.recovery_point) == (0, 0, 0)
    assert loaded.dir_dirty and loaded.recovered_segments == 0
    assert [s.base_offset for s in loaded.segments.values()] == [0]


def test_a_clean_shutdown_loads_without_recovery(tmp_path: Path) -> None:
    log = written_log(tmp_path / "t-0", 8)
    segments = len(log.segments)
    log.flush()
    log.close()
    loaded = load(tmp_path / "t-0", clean=True)
    assert (loaded.next_offset, loaded.recovery_point) == (16, 16)
    assert not loaded.dir_dirty and loaded.recovered_segments == 0
    assert len(loaded.segments) == segments > 1


def test_an_unclean_shutdown_recovers_from_the_recovery_point(tmp_path: Path) -> None:
    log = written_log(tmp_path / "t-0", 8)
    second = log.segments[1].base_offset
    for segment in log.segments:  # a crash: no close, no snapshot
        segment.close_handlers()
    loaded = load(tmp_path / "t-0", clean=False, recovery_point=second)
    assert loaded.next_offset == 16 and loaded.recovery_point == second
    assert loaded.dir_dirty
    assert loaded.recovered_segments == len(loaded.segments) - 1  # from the second on


def test_local_log_truncation_and_removal_change_only_the_segment_list(tmp_path: Path) -> None:
    loaded = load(tmp_path / "t-0", clean=True)
    local = LocalLog(
        tmp_path / "t-0", config(segment_bytes=600), loaded.segments,
        recovery_point=0, next_offset=0, dir_dirty=False,
    )  # fmt: skip
    for i in range(10):
        batch = make_batch(2, base_offset=2 * i, value_size=100)
        if local.should_roll(len(batch), 1_000, 2 * i + 1, 1_000):
            local.roll(1_000)
        local.append(local.active_segment, memoryview(batch), 2 * i + 1, 1_000, 2 * i + 1)
    assert local.log_end_offset == 20 and local.num_segments > 2
    assert local.pending_flush_offset == local.active_segment.base_offset
    local.flush(None)
    assert local.recovery_point == 20 and local.pending_flush_offset is None
    assert not local.dir_dirty
    first = local.segments[0]
    local.remove_segments([first])
    assert local.segment(first.base_offset) is None and local.dir_dirty
    base = local.active_segment.base_offset
    before = local.num_segments
    assert local.truncate_to(base - 1) == base - 2  # whole batches: the one holding it goes
    assert local.recovery_point == base - 2 and local.num_segments == before - 1
    local.truncate_fully_and_start_at(100, 2_000)
    assert (local.log_end_offset, local.recovery_point, local.num_segments) == (100, 100, 1)
