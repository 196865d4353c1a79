"""Log lifecycle across restarts: which directories open, with which settings and offsets.

The metadata log is never a partition log; a deleted topic's checkpoint entries, directory or
records never reach a re-created topic of the same name; deletion works for every legal name.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest

from brook.raft.local import LocalRaftClient
from brook.storage.checkpoint import (
    LOG_START_OFFSET_CHECKPOINT_FILENAME,
    RECOVERY_POINT_CHECKPOINT_FILENAME,
    OffsetCheckpointFile,
)
from brook.storage.errors import LogDirError
from brook.storage.log_config import LogConfig
from brook.storage.log_dirs import MAX_FILE_NAME_LENGTH
from brook.storage.log_manager import HostedLog, LogManager
from brook.testing.clock import VirtualClock
from tests.support.storage_batches import make_batch

ID_A = b"\x01" * 16
ID_B = b"\x02" * 16


def append(manager: LogManager, topic: str, count: int, topic_id: bytes | None = None) -> None:
    log = manager.get_or_create_log(topic, 0, topic_id=topic_id)
    log.append_as_leader(memoryview(make_batch(count)), 0, 1_000)


def test_metadata_log_is_never_opened_as_a_partition(tmp_path: Path) -> None:
    """A short broker retention must not reach the metadata log: the log manager leaves its
    directory to the Raft client, and the Raft client's log keeps records forever."""
    raft = LocalRaftClient(tmp_path, 1_000)
    asyncio.run(raft.append([b"record"], 1_000))
    assert raft.log.config.retention_ms == -1 and raft.log.config.retention_bytes == -1
    raft.close()
    clock = VirtualClock(1_000_000)
    manager = LogManager([tmp_path], {"log.retention.ms": "1", "log.segment.bytes": "1024"}, clock.now_ms)
    manager.startup()
    assert manager.get_log("__cluster_metadata", 0) is None
    for _, log in manager.all_logs():
        log.delete_old_segments(clock.now_ms() + 10_000_000)
    asyncio.run(manager.shutdown())
    reopened = LocalRaftClient(tmp_path, 2_000)
    assert [v for _, v in reopened.read_committed()] == [b"record"]
    reopened.close()


def test_startup_opens_each_log_with_its_topic_config(tmp_path: Path) -> None:
    manager = LogManager([tmp_path], {"log.retention.ms": "1"}, VirtualClock(1_000_000).now_ms)
    manager.startup({})
    append(manager, "keep", 3, ID_A)
    asyncio.run(manager.shutdown())
    forever = LogConfig.from_props({"retention.ms": "-1"}, {"log.retention.ms": "1"})
    restarted = LogManager([tmp_path], {"log.retention.ms": "1"}, VirtualClock(1_000_000).now_ms)
    restarted.startup({("keep", 0): HostedLog(forever, ID_A)})
    log = restarted.get_log("keep", 0)
    assert log is not None and log.config.retention_ms == -1
    log.delete_old_segments(10**12)
    assert log.log_end_offset == 3 and log.log_start_offset == 0


def test_deletion_rewrites_checkpoints_so_a_recreated_topic_survives_a_crash(
    tmp_path: Path,
) -> None:
    """A deleted topic's log start offset (8) above the re-created topic's log end (5) would
    make recovery delete every segment of the new topic."""
    manager = LogManager([tmp_path], {}, VirtualClock(1_000_000).now_ms)
    manager.startup()
    append(manager, "t", 10)
    old = manager.get_log("t", 0)
    assert old is not None and old.maybe_increment_log_start_offset(8)
    manager.checkpoint_log_start_offsets()
    manager.checkpoint_recovery_points()
    assert manager.delete_log("t", 0)
    append(manager, "t", 5)
    # kill -9: no shutdown, no periodic checkpoint.
    restarted = LogManager([tmp_path], {}, VirtualClock(1_000_000).now_ms)
    restarted.startup()
    log = restarted.get_log("t", 0)
    assert log is not None and (log.log_start_offset, log.log_end_offset) == (0, 5)


def test_a_stale_checkpoint_entry_never_deletes_a_newer_log(tmp_path: Path) -> None:
    """An entry written before the log's ``partition.metadata`` belongs to an earlier topic
    of the same name; it is ignored instead of deleting the log's acknowledged records."""
    manager = LogManager([tmp_path], {}, VirtualClock(1_000_000).now_ms)
    manager.startup({})
    append(manager, "t", 5, ID_B)
    manager.checkpoint_recovery_points()
    stale = {("t", 0): 50}
    for name in (LOG_START_OFFSET_CHECKPOINT_FILENAME, RECOVERY_POINT_CHECKPOINT_FILENAME):
        OffsetCheckpointFile(tmp_path / name).write(stale)
        os.utime(tmp_path / name, ns=(1_000_000_000, 1_000_000_000))
    restarted = LogManager([tmp_path], {}, VirtualClock(1_000_000).now_ms)
    restarted.startup({("t", 0): HostedLog(LogConfig.default(), ID_B)})
    log = restarted.get_log("t", 0)
    assert log is not None and (log.log_start_offset, log.log_end_offset) == (0, 5)


def test_a_log_start_within_the_log_is_kept_though_its_checkpoint_looks_older(
    tmp_path: Path,
) -> None:
    """A copied directory (or a clock stepped back) makes the checkpoints older than
    ``partition.metadata``; a log start offset inside the log is still this log's, and the
    records DeleteRecords removed below it stay removed."""
    manager = LogManager([tmp_path], {}, VirtualClock(1_000_000).now_ms)
    manager.startup({})
    append(manager, "t", 5, ID_B)
    OffsetCheckpointFile(tmp_path / LOG_START_OFFSET_CHECKPOINT_FILENAME).write({("t", 0): 3})
    os.utime(tmp_path / LOG_START_OFFSET_CHECKPOINT_FILENAME, ns=(1_000_000_000, 1_000_000_000))
    restarted = LogManager([tmp_path], {}, VirtualClock(1_000_000).now_ms)
    restarted.startup({("t", 0): HostedLog(LogConfig.default(), ID_B)})
    log = restarted.get_log("t", 0)
    assert log is not None and (log.log_start_offset, log.log_end_offset) == (3, 5)
    assert OffsetCheckpointFile(tmp_path / LOG_START_OFFSET_CHECKPOINT_FILENAME).read() == {
        ("t", 0): 3}


def test_delete_works_for_the_longest_legal_name(tmp_path: Path) -> None:
    name = "n" * 249
    manager = LogManager([tmp_path], {}, VirtualClock(1_000_000).now_ms)
    manager.startup({})
    append(manager, name, 2, ID_A)
    assert manager.delete_log(name, 0)
    leftovers = [p.name for p in tmp_path.iterdir() if p.is_dir()]
    assert len(leftovers) == 1 and leftovers[0].endswith("-delete")
    assert len(leftovers[0].encode()) <= MAX_FILE_NAME_LENGTH
    asyncio.run(manager.purge_deleted_logs())
    assert not [p for p in tmp_path.iterdir() if p.is_dir()]


def test_startup_sets_aside_every_directory_the_metadata_does_not_know(tmp_path: Path) -> None:
    manager = LogManager([tmp_path], {}, VirtualClock(1_000_000).now_ms)
    manager.startup({})
    append(manager, "deleted", 3, ID_A)  # topic no longer in the metadata
    append(manager, "recreated", 4, ID_A)  # name now belongs to topic id B
    append(manager, "kept", 2, ID_B)
    noid = manager.get_or_create_log("noid", 0)  # records, no partition.metadata
    noid.append_as_leader(memoryview(make_batch(1)), 0, 1_000)
    (tmp_path / "empty-0").mkdir()  # no records, no partition.metadata
    asyncio.run(manager.shutdown())
    config = LogConfig.default()
    hosted = {
        ("recreated", 0): HostedLog(config, ID_B),
        ("kept", 0): HostedLog(config, ID_B),
        ("noid", 0): HostedLog(config, ID_B),
        ("empty", 0): HostedLog(config, ID_B),
    }
    restarted = LogManager([tmp_path], {}, VirtualClock(1_000_000).now_ms)
    restarted.startup(hosted)
    assert sorted(tp for tp, _ in restarted.all_logs()) == [("kept", 0)]
    asyncio.run(restarted.purge_deleted_logs())
    names = sorted(p.name for p in tmp_path.iterdir() if p.is_dir())
    assert names[0] == "kept-0" and len(names) == 2 and names[1].startswith("noid-0.")
    assert names[1].endswith("-stray")
    # The re-created topic's log starts empty: its predecessor's records are gone for good.
    fresh = restarted.get_or_create_log("recreated", 0, config, ID_B)
    assert fresh.log_end_offset == 0


def test_a_new_log_never_adopts_a_leftover_directory(tmp_path: Path) -> None:
    """A directory left by a deleted topic (crash before its rename) is set aside when a new
    topic of the same name is created, instead of failing the creation or serving it."""
    manager = LogManager([tmp_path], {}, VirtualClock(1_000_000).now_ms)
    manager.startup({})
    append(manager, "t", 4, ID_A)
    asyncio.run(manager.shutdown())
    restarted = LogManager([tmp_path], {}, VirtualClock(1_000_000).now_ms)
    restarted.startup({}, set_aside_unknown=False)
    assert (tmp_path / "t-0").exists() and restarted.get_log("t", 0) is None
    log = restarted.get_or_create_log("t", 0, LogConfig.default(), ID_B)
    assert log.log_end_offset == 0 and log.topic_id == ID_B


def test_a_name_with_a_line_break_does_not_brick_startup(tmp_path: Path) -> None:
    """A topic whose name reached the metadata under a looser check ("odd\\n") must not make
    the offset checkpoints unreadable: the broker keeps starting, the log recovers."""
    config = LogConfig.default()
    manager = LogManager([tmp_path], {}, VirtualClock(1_000_000).now_ms)
    manager.startup({})
    append(manager, "odd\n", 3, ID_A)
    append(manager, "plain", 2, ID_B)
    asyncio.run(manager.shutdown())
    hosted = {("odd\n", 0): HostedLog(config, ID_A), ("plain", 0): HostedLog(config, ID_B)}
    for _ in range(2):
        restarted = LogManager([tmp_path], {}, VirtualClock(1_000_000).now_ms)
        restarted.startup(hosted)
        odd, plain = restarted.get_log("odd\n", 0), restarted.get_log("plain", 0)
        assert odd is not None and odd.log_end_offset == 3
        assert plain is not None and plain.log_end_offset == 2
        asyncio.run(restarted.shutdown())


def test_the_same_partition_in_two_log_directories_refuses_to_start(tmp_path: Path) -> None:
    """A partition directory copied into a second log directory (a hand-made disk move): which
    copy holds the acknowledged records is the operator's call, as in Kafka, not the scan's."""
    first, second = tmp_path / "d1", tmp_path / "d2"
    manager = LogManager([first], {}, VirtualClock(1_000_000).now_ms)
    manager.startup({})
    append(manager, "t", 5, ID_B)
    manager.get_log("t", 0).close()  # type: ignore[union-attr]
    shutil.copytree(first / "t-0", second / "t-0")
    restarted = LogManager([first, second], {}, VirtualClock(1_000_000).now_ms)
    with pytest.raises(LogDirError, match="duplicate log directories for t-0"):
        restarted.startup({("t", 0): HostedLog(LogConfig.default(), ID_B)})


@pytest.mark.parametrize("name", ["t-03", "t-\u0663", "t-+3"])
def test_a_non_canonical_partition_number_is_not_a_partition_directory(
    tmp_path: Path, name: str
) -> None:
    (tmp_path / name).mkdir()
    manager = LogManager([tmp_path], {}, VirtualClock(1_000_000).now_ms)
    manager.startup({("t", 3): HostedLog(LogConfig.default(), ID_B)})
    assert manager.get_log("t", 3) is None
    assert (tmp_path / name).is_dir()  # not ours: left where it is
