"""A log closed for deletion does no more file work. Its queued work (segment unlinks left by
retention or DeleteRecords) and flushes (producer snapshots, the leader-epoch checkpoint) go
by path; once its directory is renamed for deletion, a new log of the same name (a replica
moved back, a topic re-created) owns those paths, and late work from the old log would delete
the new log's segments or overwrite its files."""

from __future__ import annotations

from pathlib import Path

import pytest

from brook.storage.errors import LogDirError
from brook.storage.log import Log
from brook.storage.log_manager import LogManager
from tests.support.storage_batches import config, make_batch

BATCH = len(make_batch(2))
OLD, NEW = b"\x01" * 16, b"\x02" * 16


def _fill(log: Log, batches: int) -> None:
    for _ in range(batches):
        seq = log.log_end_offset
        batch = make_batch(2, producer_id=9, producer_epoch=0, base_sequence=seq)
        log.append_as_leader(memoryview(batch), 0, 1_000)


def test_late_work_of_a_deleted_log_never_touches_a_new_log_of_the_same_name(
    tmp_path: Path,
) -> None:
    manager = LogManager([tmp_path], {}, lambda: 1_000)
    manager.startup()
    cfg = config(segment_bytes=BATCH * 2, retention_bytes=BATCH * 2)
    old = manager.get_or_create_log("t", 0, cfg, OLD)
    old.leader_epoch_cache.assign(0, 0)
    _fill(old, 8)
    old.flush()
    old.leader_epoch_cache.assign(7, old.log_end_offset)  # an epoch checkpoint still to write
    _fill(old, 2)  # a roll: a producer snapshot still to write
    assert old.delete_old_segments(1_000, defer_io=True) > 0  # unlinks queued, not done
    assert old.has_deferred_io

    manager.delete_logs([("t", 0)])
    new = manager.get_or_create_log("t", 0, cfg, NEW)
    new.leader_epoch_cache.assign(0, 0)
    _fill(new, 8)
    new.flush()
    files = sorted(p.name for p in (tmp_path / "t-0").iterdir())
    epochs = (tmp_path / "t-0" / "leader-epoch-checkpoint").read_bytes()

    old.run_deferred_io()  # what a worker thread still held for the old log
    with pytest.raises(LogDirError):
        old.flush()
    assert sorted(p.name for p in (tmp_path / "t-0").iterdir()) == files
    assert (tmp_path / "t-0" / "leader-epoch-checkpoint").read_bytes() == epochs
    assert new.log_start_offset == 0 and new.log_end_offset == 16
    assert [s.base_offset for s in new.segments] == [0, 4, 8, 12]
