"""``replication-offset-checkpoint``: the high watermarks a restarted replica starts from.

Real log managers on disk; the partition's high watermark comes from a real ``Partition``
installed on the reopened log, as the replica manager installs it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from brook.replication.partition import Partition, TopicPartition
from brook.storage.checkpoint import CorruptCheckpointError, OffsetCheckpointFile
from brook.storage.log import Log
from brook.storage.log_manager import CLEAN_SHUTDOWN_FILE, LogManager
from brook.testing.clock import VirtualClock
from tests.support.storage_batches import make_batch

CHECKPOINT = "replication-offset-checkpoint"


def _manager(log_dir: Path, hws: dict[tuple[str, int], int] | None = None) -> LogManager:
    source = None if hws is None else hws.get
    return LogManager([log_dir], {}, VirtualClock(1_000).now_ms, high_watermark=source)


def _produce(manager: LogManager, topic: str, partition: int, *counts: int) -> Log:
    plog = manager.get_or_create_log(topic, partition)
    for count in counts:
        plog.append_as_leader(memoryview(make_batch(count)), 0, 1_000)
    return plog


def _follower(plog: Log, tp: TopicPartition) -> Partition:
    """This broker (1) follows broker 2: nothing moves the high watermark but the leader."""
    part = Partition(tp, b"\x01" * 16, plog, 1, 2, 3, (1, 2, 3), (1, 2, 3))
    part.update_registration(2, 3, (1, 2, 3), (1, 2, 3), 0, 1_000)
    return part


def test_high_watermarks_survive_a_clean_restart(tmp_path: Path) -> None:
    hws: dict[tuple[str, int], int] = {("t", 0): 6}
    manager = _manager(tmp_path, hws)
    manager.startup()
    _produce(manager, "t", 0, 4, 6)
    _produce(manager, "t", 1, 4)  # no partition installed: keeps what it opened with, 0
    asyncio.run(manager.shutdown())
    assert OffsetCheckpointFile(tmp_path / CHECKPOINT).read() == {("t", 0): 6, ("t", 1): 0}

    restarted = _manager(tmp_path)
    restarted.startup()
    plog = restarted.get_log("t", 0)
    assert plog is not None and plog.log_end_offset == 10
    assert plog.checkpointed_high_watermark == 6
    assert _follower(plog, TopicPartition("t", 0)).high_watermark == 6
    # Still no partition on it: the next checkpoint keeps the value instead of losing it.
    restarted.checkpoint_high_watermarks()
    assert OffsetCheckpointFile(tmp_path / CHECKPOINT).read() == {("t", 0): 6, ("t", 1): 0}


def test_the_periodic_checkpoint_follows_the_partitions(tmp_path: Path) -> None:
    hws: dict[tuple[str, int], int] = {}
    manager = _manager(tmp_path, hws)
    manager.startup()
    _produce(manager, "t", 0, 5)
    for hw in (2, 5):
        hws[("t", 0)] = hw
        manager.checkpoint_high_watermarks()
        assert OffsetCheckpointFile(tmp_path / CHECKPOINT).read() == {("t", 0): hw}


def test_after_kill_9_the_high_watermark_is_capped_at_the_recovered_log_end(
    tmp_path: Path,
) -> None:
    manager = _manager(tmp_path, {("t", 0): 10})
    manager.startup()
    plog = _produce(manager, "t", 0, 5)
    first_batch_end = plog.active_segment.size_bytes
    _produce(manager, "t", 0, 5)
    manager.checkpoint_high_watermarks()
    # kill -9: no clean shutdown, and the second batch never reached the disk whole.
    for segment in plog.segments:
        segment.close_handlers()
    with open(plog.active_segment.log_path, "r+b") as f:
        f.truncate(first_batch_end + 7)
    restarted = _manager(tmp_path)
    restarted.startup()
    assert restarted.had_clean_shutdown == {tmp_path: False}
    reopened = restarted.get_log("t", 0)
    assert reopened is not None and reopened.log_end_offset == 5
    assert reopened.checkpointed_high_watermark == 5
    assert _follower(reopened, TopicPartition("t", 0)).high_watermark == 5


def test_without_a_checkpoint_a_replica_starts_from_zero(tmp_path: Path) -> None:
    manager = _manager(tmp_path)
    manager.startup()
    _produce(manager, "t", 0, 7)
    _produce(manager, "t", 1, 7)
    for _, plog in manager.all_logs():
        for segment in plog.segments:
            segment.close_handlers()
    (tmp_path / CHECKPOINT).unlink()
    restarted = _manager(tmp_path)
    restarted.startup()
    follower_log, leader_log = restarted.get_log("t", 0), restarted.get_log("t", 1)
    assert follower_log is not None and leader_log is not None
    assert _follower(follower_log, TopicPartition("t", 0)).high_watermark == 0
    # A replica alone in its ISR commits its whole log as soon as it leads.
    sole = Partition(TopicPartition("t", 1), b"\x01" * 16, leader_log, 1, 1, 0, (1,), (1,))
    sole.update_registration(1, 0, (1,), (1,), 0, 1_000)
    assert sole.high_watermark == 7


def test_deleted_topics_drop_out_of_the_checkpoint(tmp_path: Path) -> None:
    manager = _manager(tmp_path, {("gone", 0): 3, ("kept", 0): 2})
    manager.startup()
    _produce(manager, "gone", 0, 3)
    _produce(manager, "kept", 0, 3)
    manager.checkpoint_high_watermarks()
    assert set(OffsetCheckpointFile(tmp_path / CHECKPOINT).read()) == {("gone", 0), ("kept", 0)}
    manager.delete_logs([("gone", 0)])
    assert OffsetCheckpointFile(tmp_path / CHECKPOINT).read() == {("kept", 0): 2}


@pytest.mark.parametrize("text", [
    "0\n1\nt 0 not-a-number\n",
    "0\n2\nt 0 5\n",  # an entry missing
    "1\n0\n",  # an unknown version
    "\xff\xfe",
])  # fmt: skip
def test_a_corrupt_checkpoint_stops_start_up_with_the_file_named(tmp_path: Path,
                                                                  text: str) -> None:
    manager = _manager(tmp_path)
    manager.startup()
    _produce(manager, "t", 0, 5)
    asyncio.run(manager.shutdown())
    (tmp_path / CHECKPOINT).write_bytes(text.encode("latin-1"))
    restarted = _manager(tmp_path)
    with pytest.raises(CorruptCheckpointError, match=CHECKPOINT):
        restarted.startup()
    # Nothing was opened or rewritten: the operator finds the file and the marker as they were.
    assert restarted.all_logs() == []
    assert (tmp_path / CHECKPOINT).read_bytes() == text.encode("latin-1")
    assert (tmp_path / CLEAN_SHUTDOWN_FILE).exists()


def test_a_restarted_leader_commits_its_tail_only_once_the_isr_has_it(tmp_path: Path) -> None:
    manager = _manager(tmp_path, {("t", 0): 4})
    manager.startup()
    _produce(manager, "t", 0, 4, 3)  # 4 committed, then 3 no follower copied
    asyncio.run(manager.shutdown())
    restarted = _manager(tmp_path)
    restarted.startup()
    plog = restarted.get_log("t", 0)
    assert plog is not None
    part = Partition(TopicPartition("t", 0), b"\x01" * 16, plog, 1, 1, 5, (1, 2, 3), (1, 2, 3))
    part.update_registration(1, 5, (1, 2, 3), (1, 2, 3), 0, 1_000)
    assert part.is_leader and part.high_watermark == 4
    assert part.fetch_offset_for_timestamp(-1).offset == 4  # ListOffsets latest
    assert part.update_follower_fetch(2, -1, 7, 1_000, 7)
    assert part.high_watermark == 4
    assert part.update_follower_fetch(3, -1, 7, 1_000, 7)
    assert part.high_watermark == 7
