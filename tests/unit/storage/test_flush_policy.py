"""flush.messages before the acknowledgement, group commit, and the flush.ms schedule.

The partition-level tests go through ``ReplicaManager.append``, the call the
produce handler makes: the future it returns is what the response waits for, so when it
completes the records must already be below the log's recovery point (fsynced).
"""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

import pytest

from brook.env.clock import SYSTEM_CLOCK
from brook.replication.partition import Partition, TopicPartition
from brook.replication.replica_manager import ReplicaManager
from brook.storage.log import Log
from brook.storage.log_config import LogConfig
from brook.storage.log_manager import LogManager
from tests.support.storage_batches import config, make_batch


def open_log(directory: Path, cfg: LogConfig) -> Log:
    return Log.open(directory, cfg, recovery_point=0, log_start_offset=0,
                    clean_shutdown=True, now_ms=0)


def leader(log: Log) -> Partition:
    # The first epoch entry is checkpointed when leadership starts (not part of these tests).
    log.leader_epoch_cache.assign(0, 0)
    return Partition(TopicPartition("t", 0), b"\x01" * 16, log, 1, 1, 0, (1,), (1,))


def append(rm: ReplicaManager, part: Partition, count: int = 1):  # type: ignore[no-untyped-def]
    return rm.append(part, memoryview(make_batch(count)), -1, 1_000)


@pytest.fixture
def fsync_threads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the threads that called fsync/fdatasync (the real calls still happen)."""
    seen: list[str] = []
    real_fsync, real_fdatasync = os.fsync, os.fdatasync

    def fsync(fd: int) -> None:
        seen.append(threading.current_thread().name)
        real_fsync(fd)

    def fdatasync(fd: int) -> None:
        seen.append(threading.current_thread().name)
        real_fdatasync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "fdatasync", fdatasync)
    return seen


def test_flush_messages_1_fsyncs_before_the_append_completes(
    tmp_path: Path, fsync_threads: list[str]
) -> None:
    log = open_log(tmp_path / "t-0", config(flush_messages=1))
    part = leader(log)
    rm = ReplicaManager(1, LogManager([tmp_path], {}, lambda: 0), {})
    fsync_threads.clear()

    async def scenario() -> None:
        info, durable = append(rm, part, 3)
        assert durable is not None
        # Appended but not yet on disk: neither acknowledged nor visible to consumers.
        assert log.recovery_point == 0 and part.high_watermark == 0
        await durable
        assert log.recovery_point > info.last_offset
        assert part.high_watermark == log.log_end_offset == 3

    asyncio.run(scenario())
    assert fsync_threads and "MainThread" not in fsync_threads


def test_concurrent_appends_share_fsyncs(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0", config(flush_messages=1))
    part = leader(log)
    rm = ReplicaManager(1, LogManager([tmp_path], {}, lambda: 0), {})

    async def scenario() -> None:
        futures = []
        for _ in range(50):
            info, durable = append(rm, part)
            assert durable is not None
            futures.append((info, durable))
        for info, durable in futures:
            await durable
            assert log.recovery_point > info.last_offset
        assert part.high_watermark == 50

    asyncio.run(scenario())


def test_flush_messages_n_waits_only_when_reached(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0", config(flush_messages=3))
    part = leader(log)
    rm = ReplicaManager(1, LogManager([tmp_path], {}, lambda: 0), {})

    async def scenario() -> None:
        assert append(rm, part)[1] is None
        assert append(rm, part)[1] is None
        assert part.high_watermark == 2  # below flush.messages: visible at once, as in Kafka
        _, durable = append(rm, part)
        assert durable is not None
        await durable
        assert log.recovery_point == 3 and part.high_watermark == 3

    asyncio.run(scenario())


def test_default_flush_messages_never_waits_or_fsyncs(
    tmp_path: Path, fsync_threads: list[str]
) -> None:
    log = open_log(tmp_path / "t-0", config())
    part = leader(log)
    rm = ReplicaManager(1, LogManager([tmp_path], {}, lambda: 0), {})
    fsync_threads.clear()

    async def scenario() -> None:
        for _ in range(20):
            _, durable = append(rm, part)
            assert durable is None
        assert part.high_watermark == 20 and log.recovery_point == 0

    asyncio.run(scenario())
    assert fsync_threads == []


def test_duplicate_waits_for_the_original_to_be_flushed(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0", config(flush_messages=1))
    part = leader(log)
    rm = ReplicaManager(1, LogManager([tmp_path], {}, lambda: 0), {})
    batch = make_batch(2, producer_id=7, producer_epoch=0, base_sequence=0)

    async def scenario() -> None:
        _, first = rm.append(part, memoryview(bytearray(batch)), -1, 1_000)
        retry, again = rm.append(part, memoryview(bytearray(batch)), -1, 1_000)
        assert retry.duplicate and again is not None
        await again
        assert log.recovery_point >= 2
        assert first is not None and first.done()

    asyncio.run(scenario())


def test_roll_flush_starts_at_once_and_writes_the_snapshot_off_the_loop(
    tmp_path: Path, fsync_threads: list[str]
) -> None:
    log = open_log(tmp_path / "t-0", config(segment_bytes=1_000))
    part = leader(log)
    rm = ReplicaManager(1, LogManager([tmp_path], {}, lambda: 0), {})
    fsync_threads.clear()

    async def scenario() -> None:
        while log.num_segments < 2:
            batch = make_batch(1, producer_id=3, producer_epoch=0,
                               base_sequence=log.log_end_offset, value_size=200)
            rm.append(part, memoryview(batch), -1, 1_000)
        rolled_at = log.active_segment.base_offset
        assert log.pending_flush_offset == rolled_at
        # The roll encoded the snapshot; its file is written by the flush that started.
        while log.flusher.busy:
            await asyncio.sleep(0.005)
        assert log.recovery_point >= rolled_at
        assert log.producer_state.snapshot_offsets() == [rolled_at]

    asyncio.run(scenario())
    assert fsync_threads and "MainThread" not in fsync_threads


def test_scheduler_wakes_for_short_flush_ms(tmp_path: Path) -> None:
    now = [10_000]
    manager = LogManager([tmp_path], {}, lambda: now[0])
    manager.startup()
    slow = manager.get_or_create_log("slow", 0)
    fast = manager.get_or_create_log("fast", 0, config(flush_ms=100))
    assert manager.logs_to_flush(now[0]) == []
    assert manager._next_flush_wait_ms == 100  # not the 1 s default tick
    slow.append_as_leader(memoryview(make_batch(1)), 0, now[0])
    fast.append_as_leader(memoryview(make_batch(1)), 0, now[0])
    fast.last_flush_ms = now[0] - 70
    assert manager.logs_to_flush(now[0]) == []
    assert manager._next_flush_wait_ms == 30  # sleeps until fast's flush.ms runs out
    now[0] += 30
    assert manager.logs_to_flush(now[0]) == [(fast, 1)]
    tiny = manager.get_or_create_log("tiny", 0, config(flush_ms=1))
    assert tiny is not None
    manager.logs_to_flush(now[0])
    assert manager._next_flush_wait_ms == 10  # bounded below


def test_background_task_honours_flush_ms_100(tmp_path: Path) -> None:
    manager = LogManager([tmp_path], {}, SYSTEM_CLOCK.now_ms)
    manager.startup()
    log = manager.get_or_create_log("t", 0, config(flush_ms=100))

    async def scenario() -> float:
        stop = asyncio.Event()
        task = asyncio.create_task(manager.run_background(stop))
        await asyncio.sleep(0.05)
        loop = asyncio.get_running_loop()
        log.append_as_leader(memoryview(make_batch(1)), 0, 1_000)
        start = loop.time()
        while log.recovery_point < 1:
            await asyncio.sleep(0.005)
        took = loop.time() - start
        stop.set()
        await task
        return took

    took = asyncio.run(scenario())
    # flush.ms=100 (+ one 100 ms tick at worst); the old 1 s tick took up to a second.
    assert took < 0.6


def test_append_after_flush_ms_elapsed_starts_a_flush_without_waiting(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0", config(flush_ms=50))
    part = leader(log)
    rm = ReplicaManager(1, LogManager([tmp_path], {}, lambda: 0), {})

    async def scenario() -> None:
        log.last_flush_ms = 0
        _, durable = rm.append(part, memoryview(make_batch(2)), -1, 1_000)
        assert durable is None and part.high_watermark == 2  # flush.ms never delays the ack
        assert log.flusher.busy
        while log.flusher.busy:
            await asyncio.sleep(0.005)
        assert log.recovery_point == 2 and log.last_flush_ms == 1_000

    asyncio.run(scenario())


def test_first_flush_of_a_new_log_syncs_its_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = open_log(tmp_path / "t-0", config(flush_messages=1))
    log.append_as_leader(memoryview(make_batch(1)), -1, 1_000)  # no epoch checkpoint to write
    synced: list[str] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    log.flush()
    assert str(tmp_path / "t-0") in synced  # the new segment file's directory entry


def test_a_failed_fsync_stops_the_log_for_good(tmp_path: Path) -> None:
    """After a failed fsync the kernel may have dropped the dirty pages, so a later fsync
    that succeeds says nothing about them: the records are never acknowledged or made
    visible, and the log takes no further appends."""
    from brook.storage.errors import LogDirError
    from brook.testing.faultfs import FaultFs

    log = open_log(tmp_path / "t-0", config(flush_messages=1))
    part = leader(log)
    rm = ReplicaManager(1, LogManager([tmp_path], {}, lambda: 0), {})

    async def scenario() -> None:
        with FaultFs() as faults:
            faults.fail_syncs = 1
            _, durable = append(rm, part, 3)
            assert durable is not None
            with pytest.raises(OSError):
                await durable
        assert part.high_watermark == 0 and log.recovery_point == 0
        with pytest.raises(LogDirError):
            append(rm, part, 1)
        again = log.flusher.request(log.log_end_offset, 1_000)
        with pytest.raises(OSError):
            await again
        assert part.high_watermark == 0 and log.recovery_point == 0

    asyncio.run(scenario())


def test_a_failed_background_flush_stops_the_log_and_spares_the_others(tmp_path: Path) -> None:
    from brook.storage.errors import LogDirError
    from brook.testing.faultfs import FaultFs

    manager = LogManager([tmp_path], {}, lambda: 0)
    manager.startup()
    bad = manager.get_or_create_log("bad", 0, config())
    good = manager.get_or_create_log("good", 0, config())
    rm = ReplicaManager(1, manager, {})
    bad_part, good_part = leader(bad), leader(good)
    append(rm, bad_part, 2)
    with FaultFs() as faults:
        faults.fail_syncs = 1
        manager._flush_all([(bad, bad.log_end_offset)], 0)
    assert bad.flusher.failed is not None and bad.recovery_point == 0
    with pytest.raises(LogDirError):
        append(rm, bad_part, 1)
    append(rm, good_part, 2)
    manager._flush_all([(good, good.log_end_offset)], 0)
    assert good.recovery_point == 2


def test_a_followers_fetch_does_not_commit_records_waiting_for_their_fsync(
    tmp_path: Path,
) -> None:
    """flush.messages with replication: the follower's fetch reaching the log end must not
    move the high watermark past what the leader has flushed, nor complete acks=all."""
    log = open_log(tmp_path / "t-0", config(flush_messages=1))
    log.leader_epoch_cache.assign(0, 0)
    part = Partition(TopicPartition("t", 0), b"\x01" * 16, log, 1, 1, 0, (1, 2), (1, 2))
    part.update_registration(1, 0, (1, 2), (1, 2), 0, 1_000)
    rm = ReplicaManager(1, LogManager([tmp_path], {}, lambda: 0), {})

    async def scenario() -> None:
        _, reached = append(rm, part, 3)
        assert reached is not None
        # The follower copied all three records before the leader's fsync ran.
        assert part.update_follower_fetch(2, -1, 3, 1_000, log.log_end_offset)
        assert log.recovery_point == 0
        assert part.high_watermark == 0 and not reached.done()
        await reached
        assert log.recovery_point == 3 and part.high_watermark == 3

    asyncio.run(scenario())


def test_a_failed_fsync_keeps_the_high_watermark_below_the_unflushed_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = open_log(tmp_path / "t-0", config(flush_messages=1))
    log.leader_epoch_cache.assign(0, 0)
    part = Partition(TopicPartition("t", 0), b"\x01" * 16, log, 1, 1, 0, (1, 2), (1, 2))
    part.update_registration(1, 0, (1, 2), (1, 2), 0, 1_000)
    rm = ReplicaManager(1, LogManager([tmp_path], {}, lambda: 0), {})

    def failing_flush(up_to: int | None = None, now_ms: int | None = None) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(log, "flush", failing_flush)

    async def scenario() -> None:
        _, reached = append(rm, part, 2)
        assert reached is not None
        with pytest.raises(OSError):
            await reached
        assert part.update_follower_fetch(2, -1, 2, 1_000, log.log_end_offset)
        assert part.high_watermark == 0

    asyncio.run(scenario())
