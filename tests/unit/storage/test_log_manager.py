"""LogManager: startup, checkpoints, clean-shutdown marker, delete, background flush."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from brook.storage.checkpoint import OffsetCheckpointFile
from brook.storage.log_manager import CLEAN_SHUTDOWN_FILE, LogManager, parse_topic_partition
from brook.testing.clock import VirtualClock
from tests.support.storage_batches import make_batch


def produce(manager: LogManager, topic: str, partition: int, count: int = 1) -> None:
    log = manager.get_or_create_log(topic, partition)
    log.append_as_leader(memoryview(make_batch(count)), 0, 1_000)


def test_parse_topic_partition() -> None:
    assert parse_topic_partition("my-topic-12") == ("my-topic", 12)
    assert parse_topic_partition("__consumer_offsets-0") == ("__consumer_offsets", 0)
    for bad in ("topic", "-1", "topic-x", "topic-"):
        with pytest.raises(ValueError):
            parse_topic_partition(bad)


def test_clean_shutdown_and_restart(tmp_path: Path) -> None:
    dirs = [tmp_path / "a", tmp_path / "b"]
    manager = LogManager(dirs, {}, VirtualClock(1_000).now_ms)
    manager.startup()
    for p in range(4):
        produce(manager, "orders-eu", p, count=p + 1)
    assert {log.dir.parent for _, log in manager.all_logs()} == set(dirs)
    asyncio.run(manager.shutdown())
    for d in dirs:
        assert (d / CLEAN_SHUTDOWN_FILE).exists()
        points = OffsetCheckpointFile(d / "recovery-point-offset-checkpoint").read()
        assert all(offset == tp[1] + 1 for tp, offset in points.items())
    restarted = LogManager(dirs, {}, VirtualClock(1_000).now_ms)
    restarted.startup()
    assert all(restarted.had_clean_shutdown.values())
    assert not any((d / CLEAN_SHUTDOWN_FILE).exists() for d in dirs)
    for p in range(4):
        log = restarted.get_log("orders-eu", p)
        assert log is not None and log.log_end_offset == p + 1 and log.recovery_point == p + 1


def test_unclean_restart_recovers(tmp_path: Path) -> None:
    manager = LogManager([tmp_path], {}, VirtualClock(1_000).now_ms)
    manager.startup()
    produce(manager, "t", 0, 3)
    log = manager.get_log("t", 0)
    assert log is not None
    size = log.active_segment.size_bytes
    for segment in log.segments:
        segment.close_handlers()
    with open(log.active_segment.log_path, "ab") as f:
        f.write(b"\x00\x00\x00\x00\x00\x00\x00\x05\x00\x00\x01\x00torn")
    restarted = LogManager([tmp_path], {}, VirtualClock(1_000).now_ms)
    restarted.startup()
    assert restarted.had_clean_shutdown == {tmp_path: False}
    recovered = restarted.get_log("t", 0)
    assert recovered is not None
    assert recovered.log_end_offset == 3 and recovered.active_segment.size_bytes == size


def test_log_start_offset_checkpoint(tmp_path: Path) -> None:
    manager = LogManager([tmp_path], {}, VirtualClock(1_000).now_ms)
    manager.startup()
    for _ in range(5):
        produce(manager, "t", 0, 2)
    log = manager.get_or_create_log("t", 0)
    log.maybe_increment_log_start_offset(3)
    asyncio.run(manager.shutdown())
    assert OffsetCheckpointFile(tmp_path / "log-start-offset-checkpoint").read() == {("t", 0): 3}
    restarted = LogManager([tmp_path], {}, VirtualClock(1_000).now_ms)
    restarted.startup()
    reopened = restarted.get_log("t", 0)
    assert reopened is not None and reopened.log_start_offset == 3


def test_delete_log(tmp_path: Path) -> None:
    manager = LogManager([tmp_path], {}, VirtualClock(1_000).now_ms)
    manager.startup()
    produce(manager, "gone", 0)
    produce(manager, "kept", 0)
    assert manager.delete_log("gone", 0)
    assert not manager.delete_log("gone", 0)
    assert manager.get_log("gone", 0) is None
    renamed = [p.name for p in tmp_path.iterdir() if p.name.endswith("-delete")]
    assert len(renamed) == 1 and renamed[0].startswith("gone-0.")
    asyncio.run(manager.purge_deleted_logs())
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == ["kept-0"]
    # A crash before the purge: leftover -delete directories are never opened, and the
    # background task's first purge removes them.
    (tmp_path / "x-1.abc-delete").mkdir()
    restarted = LogManager([tmp_path], {}, VirtualClock(1_000).now_ms)
    restarted.startup()
    assert restarted.all_logs() and all(tp != ("x", 1) for tp, _ in restarted.all_logs())
    asyncio.run(restarted.purge_deleted_logs())
    assert not (tmp_path / "x-1.abc-delete").exists()
    assert [tp for tp, _ in restarted.all_logs()] == [("kept", 0)]


def test_flush_policy(tmp_path: Path) -> None:
    clock = VirtualClock(1_000)
    manager = LogManager([tmp_path], {"log.flush.interval.messages": "3"}, clock.now_ms)
    manager.startup()
    by_count = manager.get_or_create_log("count", 0)
    by_time = manager.get_or_create_log(
        "time", 0, manager.default_config.__class__.from_props({"flush.ms": "50"})
    )
    for log in (by_count, by_time):
        log.append_as_leader(memoryview(make_batch(2)), 0, 1_000)
    assert manager.logs_to_flush(clock.now_ms()) == []
    by_count.append_as_leader(memoryview(make_batch(1)), 0, 1_000)
    clock.advance(50)
    due = manager.logs_to_flush(clock.now_ms())
    assert due == [(by_count, 3), (by_time, 2)]
    by_count.roll(clock.now_ms())
    assert manager.logs_to_flush(clock.now_ms())[0] == (by_count, 3)
    manager._flush_all(due, clock.now_ms())
    assert (by_count.recovery_point, by_time.recovery_point) == (3, 2)
    assert by_time.last_flush_ms == clock.now_ms()
    assert manager.logs_to_flush(clock.now_ms()) == []


def test_background_task_flushes_rolled_segments_and_checkpoints(tmp_path: Path) -> None:
    clock = VirtualClock(1_000)
    defaults = {
        "log.segment.bytes": str(len(make_batch(1)) * 2),
        "log.flush.scheduler.interval.ms": "5",
        "log.retention.check.interval.ms": "5",
        "log.flush.offset.checkpoint.interval.ms": "5",
    }
    manager = LogManager([tmp_path], defaults, clock.now_ms)
    manager.startup()
    log = manager.get_or_create_log("t", 0)
    for _ in range(5):
        log.append_as_leader(memoryview(make_batch(1)), 0, 1_000)
    assert log.pending_flush_offset == 4

    async def scenario() -> dict[tuple[str, int], int]:
        stop = asyncio.Event()
        task = asyncio.create_task(manager.run_background(stop))
        points: dict[tuple[str, int], int] = {}
        for _ in range(400):
            clock.advance(10)
            await asyncio.sleep(0.005)
            points = OffsetCheckpointFile(tmp_path / "recovery-point-offset-checkpoint").read()
            if points.get(("t", 0)) == 5:
                break
        stop.set()
        await task
        return points

    # The roll's flush (up to 4), then flush.ms (whose broker synonym includes
    # log.flush.scheduler.interval.ms, as in Kafka) flushes the rest.
    assert asyncio.run(scenario()) == {("t", 0): 5}
    assert log.recovery_point == 5 and log.pending_flush_offset is None
