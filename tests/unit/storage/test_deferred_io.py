"""The event loop never fsyncs or unlinks for a roll, retention, DeleteRecords or topic deletion,
and moving that work to worker threads keeps crash safety and readers' views intact.

A spy on ``os`` records which thread made each call (the real call still happens): the tests
run the storage calls on the main thread, as the broker's event loop does, and the worker
threads are asyncio's.
"""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

import pytest

from brook.records.record import iter_records_in_batches
from brook.storage.log import Log
from brook.storage.log_config import LogConfig
from brook.storage.log_manager import LogManager
from tests.support.storage_batches import config, make_batch

BATCH = len(make_batch(2))


class IoSpy:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def on_loop(self) -> list[str]:
        return [name for name, thread in self.calls if thread == "MainThread"]

    def clear(self) -> None:
        self.calls.clear()


@pytest.fixture
def io_spy(monkeypatch: pytest.MonkeyPatch) -> IoSpy:
    spy = IoSpy()
    for name in ("fsync", "fdatasync", "unlink", "rmdir"):
        real = getattr(os, name)

        def wrapper(*args: object, _real: object = real, _name: str = name, **kw: object) -> object:
            spy.calls.append((_name, threading.current_thread().name))
            return _real(*args, **kw)  # type: ignore[operator]

        monkeypatch.setattr(os, name, wrapper)
    return spy


def open_log(directory: Path, cfg: LogConfig) -> Log:
    return Log.open(directory, cfg, recovery_point=0, log_start_offset=0,
                    clean_shutdown=True, now_ms=0)


def fill(log: Log, batches: int, *, producer_id: int = -1) -> None:
    for _ in range(batches):
        seq = log.log_end_offset if producer_id >= 0 else -1
        batch = make_batch(2, producer_id=producer_id, producer_epoch=0 if producer_id >= 0 else -1,
                           base_sequence=seq)
        log.append_as_leader(memoryview(batch), 0, 1_000)


def offsets(log: Log, start: int) -> list[int]:
    data = log.read(start, 1 << 30, log.log_end_offset, True)
    return [r.offset for chunk in data.chunks for r in iter_records_in_batches(chunk)]


def test_roll_does_no_file_io_on_the_loop(tmp_path: Path, io_spy: IoSpy) -> None:
    log = open_log(tmp_path / "t-0", config(segment_bytes=BATCH * 2))
    log.leader_epoch_cache.assign(0, 0)
    io_spy.clear()
    fill(log, 6, producer_id=9)  # three rolls, each with a producer snapshot to take
    assert log.num_segments == 3
    assert io_spy.on_loop() == []
    assert log.producer_state.snapshot_offsets() == []  # encoded, not yet written
    asyncio.run(asyncio.to_thread(log.flush, log.pending_flush_offset, 0))
    assert log.producer_state.snapshot_offsets() == [4, 8]
    assert log.recovery_point == 8


def test_crash_before_the_pending_snapshot_is_written_rebuilds_state(tmp_path: Path) -> None:
    directory = tmp_path / "t-0"
    log = open_log(directory, config(segment_bytes=BATCH * 2))
    fill(log, 5, producer_id=9)
    assert log.producer_state.snapshot_offsets() == []
    for segment in log.segments:
        segment.close_handlers()  # kill -9: nothing more is written
    reopened = Log.open(directory, config(segment_bytes=BATCH * 2), recovery_point=0,
                        log_start_offset=0, clean_shutdown=False, now_ms=0)
    entry = reopened.producer_state.last_entry(9)
    assert entry is not None and entry.last_seq == 9
    assert reopened.log_end_offset == 10


def test_truncation_drops_a_pending_snapshot_past_the_new_end(tmp_path: Path) -> None:
    directory = tmp_path / "t-0"
    log = open_log(directory, config(segment_bytes=BATCH * 2))
    fill(log, 3, producer_id=9)  # a roll at 4 leaves a pending snapshot at 4
    assert log.producer_state.has_pending_snapshots
    log.truncate_to(2)
    log.flush()
    assert log.producer_state.snapshot_offsets() == []


def test_retention_files_go_in_a_worker_thread(tmp_path: Path, io_spy: IoSpy) -> None:
    manager = LogManager([tmp_path], {}, lambda: 1_000)
    manager.startup()
    cfg = config(segment_bytes=BATCH * 2, retention_bytes=BATCH * 2)
    log = manager.get_or_create_log("t", 0, cfg)
    fill(log, 8, producer_id=9)
    log.flush()
    old = [s.log_path for s in log.segments[:-1]]
    assert all(path.exists() for path in old)
    view = log.read(0, 1 << 20, log.log_end_offset, True).chunks[0]  # a fetch in flight
    io_spy.clear()

    async def scenario() -> int:
        return await manager.apply_retention(1_000)

    assert asyncio.run(scenario()) == 3
    assert io_spy.on_loop() == []
    assert [name for name, _ in io_spy.calls].count("unlink") >= 6
    assert not any(path.exists() for path in old)
    assert log.log_start_offset == 12 and offsets(log, 12)[0] == 12
    assert [r.offset for r in iter_records_in_batches(view)][:2] == [0, 1]  # still readable
    assert [e.start_offset for e in log.leader_epoch_cache.entries] == [12]
    assert log.producer_state.snapshot_offsets()[0] >= 12


def test_delete_records_defers_its_files(tmp_path: Path, io_spy: IoSpy) -> None:
    log = open_log(tmp_path / "t-0", config(segment_bytes=BATCH * 2))
    log.leader_epoch_cache.assign(0, 0)
    fill(log, 6)
    log.flush()
    first = log.segments[0].log_path
    io_spy.clear()
    assert log.maybe_increment_log_start_offset(5, defer_io=True)
    assert io_spy.on_loop() == []
    assert log.log_start_offset == 5 and log.segments[0].base_offset == 4
    assert first.exists() and log.has_deferred_io
    asyncio.run(asyncio.to_thread(log.run_deferred_io))
    assert not first.exists() and not log.has_deferred_io
    assert [e.start_offset for e in log.leader_epoch_cache.entries] == [5]
    reread = open_log(tmp_path / "t-0", config(segment_bytes=BATCH * 2)).leader_epoch_cache
    assert [e.start_offset for e in reread.entries] == [5]


def test_topic_deletion_does_no_file_io_on_the_loop(tmp_path: Path, io_spy: IoSpy) -> None:
    manager = LogManager([tmp_path], {}, lambda: 1_000)
    manager.startup()
    log = manager.get_or_create_log("gone", 0, config(segment_bytes=BATCH * 2))
    fill(log, 5, producer_id=3)
    view = log.read(0, 1 << 20, log.log_end_offset, True).chunks[0]
    io_spy.clear()
    asyncio.run(manager.delete_logs_async([("gone", 0)]))
    assert manager.get_log("gone", 0) is None
    assert io_spy.on_loop() == []
    asyncio.run(manager.purge_deleted_logs())
    assert io_spy.on_loop() == []
    assert [p.name for p in tmp_path.iterdir() if p.is_dir()] == []
    assert [r.offset for r in iter_records_in_batches(view)][:2] == [0, 1]


def test_old_segment_indexes_load_off_the_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / "t-0"
    cfg = config(segment_bytes=BATCH * 4, index_interval_bytes=1)
    log = open_log(directory, cfg)
    fill(log, 12)
    log.close()
    reopened = open_log(directory, cfg)
    old = reopened.segments[0]
    assert not old.indexes_loaded
    index_reads: list[str] = []
    real_read_bytes = Path.read_bytes

    def read_bytes(self: Path) -> bytes:
        if self.suffix in (".index", ".timeindex"):
            index_reads.append(threading.current_thread().name)
        return real_read_bytes(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    # Retention's question (largest timestamp) reads one entry, not the file.
    assert old.largest_timestamp >= 1_000 and not old.indexes_loaded
    cold = reopened.cold_segments(1)
    assert cold == reopened.segments[:2]
    asyncio.run(asyncio.to_thread(lambda: [s.load_indexes() for s in cold]))
    assert reopened.cold_segments(1) == []
    assert offsets(reopened, 2)[:3] == [2, 3, 4]
    assert index_reads and "MainThread" not in index_reads


def test_new_leader_epoch_is_checkpointed_by_the_flush_not_the_append(
    tmp_path: Path, io_spy: IoSpy
) -> None:
    directory = tmp_path / "t-0"
    log = open_log(directory, config())
    io_spy.clear()
    for epoch in (1, 1, 2):
        log.append_as_leader(memoryview(make_batch(1)), epoch, 1_000)
    assert io_spy.on_loop() == []
    assert [tuple(e) for e in log.leader_epoch_cache.entries] == [(1, 0), (2, 2)]
    asyncio.run(asyncio.to_thread(log.flush))
    assert (directory / "leader-epoch-checkpoint").read_text().split("\n")[2:4] == ["1 0", "2 2"]
    log.append_as_leader(memoryview(make_batch(1)), 5, 1_000)
    for segment in log.segments:
        segment.close_handlers()  # kill -9 before any flush: the batch carries its epoch
    reopened = Log.open(directory, config(), recovery_point=3, log_start_offset=0,
                        clean_shutdown=False, now_ms=0)
    assert [tuple(e) for e in reopened.leader_epoch_cache.entries] == [(1, 0), (2, 2), (5, 3)]
