"""Choosing logs to compact (dirty ratio, compaction lags), the cleaner checkpoint, and the
log manager running passes off the event loop."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from brook.records.record import build_batch, iter_records_in_batches
from brook.storage.checkpoint import OffsetCheckpointFile
from brook.storage.cleaner import CleaningPlan, CleaningResult
from brook.storage.cleaner_manager import (
    CLEANER_OFFSET_CHECKPOINT_FILENAME,
    LogCleanerManager,
    cleanable_offsets,
    max_compaction_delay,
)
from brook.storage.log import Log
from brook.storage.log_config import LogConfig
from brook.storage.log_manager import LogManager
from brook.testing.clock import VirtualClock
from tests.support.storage_batches import config


def compact(**overrides: str | int) -> LogConfig:
    overrides.setdefault("cleanup_policy", "compact")
    overrides.setdefault("segment_bytes", 1_000)
    return config(**overrides)


def update(log: Log, keys: int, rounds: int, now_ms: int = 1_000) -> None:
    for n in range(rounds):
        for k in range(keys):
            batch = build_batch([(b"k%d" % k, b"v%d" % n, [], now_ms)])
            log.append_as_leader(memoryview(batch), 0, now_ms)


def record_count(log: Log) -> int:
    data = log.read(log.log_start_offset, 1 << 30, log.log_end_offset, True)
    return sum(1 for chunk in data.chunks for _ in iter_records_in_batches(chunk))


def make_manager(tmp_path: Path, **props: str) -> tuple[LogManager, VirtualClock]:
    clock = VirtualClock(1_000)
    manager = LogManager([tmp_path], props, clock.now_ms)
    manager.startup()
    return manager, clock


async def run_pass(manager: LogManager, now_ms: int) -> bool:
    manager.maybe_start_cleaning(now_ms)
    task = manager._cleaning
    assert task is not None
    return await task


def test_dirty_ratio_decides_and_checkpoint_records_progress(tmp_path: Path) -> None:
    manager, clock = make_manager(tmp_path)
    log = manager.get_or_create_log("c", 0, compact(min_cleanable_dirty_ratio="0.5"))
    manager.get_or_create_log("d", 0, config(segment_bytes=1_000)).append_as_leader(
        memoryview(build_batch([(b"k", b"v", [], 1_000)] * 40)), 0, 1_000
    )
    update(log, keys=4, rounds=30)
    chosen = manager.cleaner_manager.grab_filthiest_compacted_log(manager.all_logs(), clock.now_ms())
    assert chosen is not None and chosen.topic_partition == ("c", 0)
    assert chosen.first_dirty_offset == 0 and chosen.cleanable_ratio == 1.0
    before = record_count(log)
    assert asyncio.run(run_pass(manager, clock.now_ms()))
    assert record_count(log) < before
    checkpoint = OffsetCheckpointFile(tmp_path / CLEANER_OFFSET_CHECKPOINT_FILENAME).read()
    assert checkpoint == {("c", 0): log.active_segment.base_offset}
    choose = manager.cleaner_manager.grab_filthiest_compacted_log
    assert choose(manager.all_logs(), 2_000) is None  # nothing new is dirty
    update(log, keys=1, rounds=3)
    log.roll(2_000)
    chosen = choose(manager.all_logs(), 2_000)
    assert chosen is not None and chosen.first_dirty_offset == checkpoint[("c", 0)]
    assert 0.5 < chosen.cleanable_ratio < 0.9
    log.update_config(compact(min_cleanable_dirty_ratio="0.9"))
    assert choose(manager.all_logs(), 2_000) is None
    stats = manager.cleaner.last_stats if manager.cleaner else None
    assert stats is not None and stats.complete


def test_checkpoint_is_reloaded_and_reset_when_outside_the_log(tmp_path: Path) -> None:
    manager, clock = make_manager(tmp_path)
    log = manager.get_or_create_log("c", 0, compact())
    update(log, keys=4, rounds=30)
    asyncio.run(run_pass(manager, clock.now_ms()))
    end = log.active_segment.base_offset
    asyncio.run(manager.shutdown())
    restarted, _ = make_manager(tmp_path)
    reopened = restarted.get_log("c", 0)
    assert reopened is not None
    assert restarted.cleaner_manager.checkpoint_offset(reopened, ("c", 0)) == end
    offsets = cleanable_offsets(reopened, end + 10_000, 1_000)
    assert offsets.first_dirty_offset == reopened.log_start_offset
    assert offsets.force_update_checkpoint


def test_max_compaction_lag_forces_a_pass_below_the_ratio(tmp_path: Path) -> None:
    manager, _ = make_manager(tmp_path)
    cfg = compact(min_cleanable_dirty_ratio="0.99", max_compaction_lag_ms=10_000)
    log = manager.get_or_create_log("c", 0, cfg)
    update(log, keys=4, rounds=10, now_ms=1_000)
    asyncio.run(run_pass(manager, 1_000))
    update(log, keys=4, rounds=10, now_ms=2_000)
    choose = manager.cleaner_manager.grab_filthiest_compacted_log
    assert choose(manager.all_logs(), 5_000) is None
    first_dirty = manager.cleaner_manager.checkpoint_offset(log, ("c", 0))
    assert first_dirty is not None and max_compaction_delay(log, first_dirty, 12_500) == 1_500
    chosen = choose(manager.all_logs(), 12_500)
    assert chosen is not None and chosen.needs_compaction_now


def test_min_compaction_lag_bounds_the_cleanable_range(tmp_path: Path) -> None:
    manager, _ = make_manager(tmp_path)
    log = manager.get_or_create_log("c", 0, compact(min_compaction_lag_ms=5_000))
    update(log, keys=4, rounds=10, now_ms=1_000)
    log.roll(1_000)
    young_start = log.log_end_offset
    update(log, keys=4, rounds=10, now_ms=8_000)
    offsets = cleanable_offsets(log, None, 9_000)
    assert offsets.first_uncleanable_offset == young_start


def test_high_watermark_source_bounds_passes(tmp_path: Path) -> None:
    clock = VirtualClock(1_000)
    manager = LogManager([tmp_path], {}, clock.now_ms, high_watermark=lambda tp: 0)
    manager.startup()
    log = manager.get_or_create_log("c", 0, compact())
    update(log, keys=4, rounds=30)
    before = record_count(log)
    assert not asyncio.run(run_pass(manager, 1_000))
    assert record_count(log) == before


def test_corrupt_log_is_marked_uncleanable(tmp_path: Path) -> None:
    manager, clock = make_manager(tmp_path)
    log = manager.get_or_create_log("c", 0, compact())
    update(log, keys=4, rounds=30)
    first = log.segments[0]
    with open(first.log_path, "r+b") as f:  # flip a byte inside the first batch's records
        f.seek(70)
        byte = f.read(1)
        f.seek(70)
        f.write(bytes([byte[0] ^ 0xFF]))
    assert not asyncio.run(run_pass(manager, clock.now_ms()))
    assert ("c", 0) in manager.cleaner_manager.uncleanable
    assert manager.cleaner_manager.grab_filthiest_compacted_log(manager.all_logs(), 1_000) is None


def test_background_task_cleans_and_stops_cleanly(tmp_path: Path) -> None:
    manager, _ = make_manager(tmp_path, **{"log.cleaner.backoff.ms": "0"})
    log = manager.get_or_create_log("c", 0, compact())
    update(log, keys=4, rounds=30)
    before = record_count(log)

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(manager.run_background(stop))
        for _ in range(2_000):
            cleaning = manager._cleaning
            if record_count(log) < before and (cleaning is None or cleaning.done()):
                break
            await asyncio.sleep(0.005)
        stop.set()
        await task
        await manager.shutdown()

    asyncio.run(scenario())
    assert record_count(log) < before
    assert not [p for p in log.dir.iterdir() if p.name.endswith((".cleaned", ".swap"))]


def test_cleaner_can_be_disabled(tmp_path: Path) -> None:
    manager, _ = make_manager(tmp_path, **{"log.cleaner.enable": "false"})
    assert manager.cleaner is None
    manager.maybe_start_cleaning(1_000)
    assert manager._cleaning is None


def test_manager_alone_writes_only_live_entries(tmp_path: Path) -> None:
    cleaner_manager = LogCleanerManager()
    cleaner_manager.load_checkpoints(tmp_path)
    log = Log.open(tmp_path / "c-0", compact(), recovery_point=0, log_start_offset=0,
                   clean_shutdown=True, now_ms=0)  # fmt: skip
    cleaner_manager.update_checkpoint(log, ("c", 0), 7)
    cleaner_manager.update_checkpoint(log, ("gone", 0), 9)
    cleaner_manager.write_checkpoint(tmp_path, [("c", 0)])
    assert OffsetCheckpointFile(tmp_path / CLEANER_OFFSET_CHECKPOINT_FILENAME).read() == {
        ("c", 0): 7
    }


def test_cancelled_pass_stops_its_thread_and_leaves_nothing(tmp_path: Path) -> None:
    manager, clock = make_manager(tmp_path)
    log = manager.get_or_create_log("c", 0, compact())
    update(log, keys=4, rounds=30)
    before = record_count(log)
    assert manager.cleaner is not None
    cleaner = manager.cleaner.cleaner
    real_build = cleaner.build
    started = threading.Event()
    finished = threading.Event()

    def slow_build(plan: CleaningPlan) -> CleaningResult:
        started.set()
        cleaner.abort.wait(10)
        try:
            return real_build(plan)
        finally:
            finished.set()

    cleaner.build = slow_build  # type: ignore[method-assign]

    async def scenario() -> None:
        manager.maybe_start_cleaning(clock.now_ms())
        task = manager._cleaning
        assert task is not None
        while not started.is_set():
            await asyncio.sleep(0.001)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.to_thread(finished.wait, 10)

    asyncio.run(scenario())
    assert cleaner.abort.is_set() and finished.is_set()
    assert record_count(log) == before
    assert not [p for p in log.dir.iterdir() if p.name.endswith((".cleaned", ".swap"))]
