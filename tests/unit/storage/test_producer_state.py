from __future__ import annotations

from pathlib import Path

import pytest

from brook.records.batch import CONTROL_MASK, BatchHeader
from brook.storage.errors import (
    DuplicateSequenceError,
    InvalidProducerEpochError,
    OutOfOrderSequenceError,
)
from brook.storage.producer_state import (
    NUM_BATCHES_TO_RETAIN,
    AppendOrigin,
    CorruptSnapshotError,
    ProducerStateManager,
    list_snapshot_offsets,
    read_snapshot,
    snapshot_path,
)

INT32_MAX = 2**31 - 1


def header(
    offset: int,
    *,
    pid: int = 1,
    epoch: int = 0,
    seq: int = 0,
    count: int = 1,
    timestamp: int = 1_000,
    attributes: int = 0,
) -> BatchHeader:
    return BatchHeader(
        offset, 100, 0, 2, 0, attributes, count - 1, timestamp, timestamp, pid, epoch, seq, count
    )


@pytest.fixture(name="manager")
def fixture_manager(tmp_path: Path) -> ProducerStateManager:
    return ProducerStateManager(tmp_path)


def append(manager: ProducerStateManager, *headers: BatchHeader) -> None:
    manager.update(manager.check_and_prepare(headers))
    manager.update_map_end_offset(max(h.next_offset for h in headers))


def test_in_sequence_batches_are_accepted(manager: ProducerStateManager) -> None:
    append(manager, header(0, seq=0, count=3))
    append(manager, header(3, seq=3, count=2))
    entry = manager.last_entry(1)
    assert entry is not None
    assert (entry.producer_epoch, entry.first_seq, entry.last_seq) == (0, 0, 4)
    assert (entry.first_data_offset, entry.last_data_offset) == (0, 4)
    assert manager.map_end_offset == 5


def test_several_batches_of_one_producer_in_one_append(manager: ProducerStateManager) -> None:
    append(manager, header(0, seq=0, count=2), header(2, seq=2, count=2))
    with pytest.raises(OutOfOrderSequenceError):
        manager.check_and_prepare([header(4, seq=4), header(5, seq=6)])


def test_check_does_not_change_state(manager: ProducerStateManager) -> None:
    manager.check_and_prepare([header(0, seq=0)])
    assert manager.last_entry(1) is None


def test_duplicate_of_any_of_the_last_five_returns_original_offsets(
    manager: ProducerStateManager,
) -> None:
    for i in range(7):
        append(manager, header(10 * i, seq=2 * i, count=2, timestamp=500 + i))
    for i in range(7 - NUM_BATCHES_TO_RETAIN, 7):
        with pytest.raises(DuplicateSequenceError) as caught:
            manager.check_and_prepare([header(999, seq=2 * i, count=2)])
        assert (caught.value.first_offset, caught.value.last_offset) == (10 * i, 10 * i + 1)
        assert caught.value.timestamp == 500 + i
    # Older than the last five: not recognised, and out of order.
    with pytest.raises(OutOfOrderSequenceError):
        manager.check_and_prepare([header(999, seq=2, count=2)])


def test_sequence_gap_is_out_of_order(manager: ProducerStateManager) -> None:
    append(manager, header(0, seq=0))
    with pytest.raises(OutOfOrderSequenceError):
        manager.check_and_prepare([header(1, seq=2)])


def test_older_epoch_is_fenced(manager: ProducerStateManager) -> None:
    append(manager, header(0, epoch=3, seq=0))
    with pytest.raises(InvalidProducerEpochError):
        manager.check_and_prepare([header(1, epoch=2, seq=1)])


def test_new_epoch_must_start_at_zero(manager: ProducerStateManager) -> None:
    append(manager, header(0, epoch=0, seq=0, count=5))
    with pytest.raises(OutOfOrderSequenceError):
        manager.check_and_prepare([header(5, epoch=1, seq=5)])
    append(manager, header(5, epoch=1, seq=0))
    entry = manager.last_entry(1)
    assert entry is not None and entry.producer_epoch == 1
    assert len(entry.batch_metadata) == 1  # the old epoch's batches are forgotten


def test_unknown_producer_is_accepted_at_any_sequence(manager: ProducerStateManager) -> None:
    append(manager, header(0, pid=42, epoch=7, seq=1234))
    with pytest.raises(OutOfOrderSequenceError):
        manager.check_and_prepare([header(1, pid=42, epoch=7, seq=1236)])
    append(manager, header(1, pid=42, epoch=7, seq=1235))


def test_sequence_wraps_at_int32_max(manager: ProducerStateManager) -> None:
    append(manager, header(0, seq=INT32_MAX - 1, count=2))
    entry = manager.last_entry(1)
    assert entry is not None and entry.last_seq == INT32_MAX
    append(manager, header(2, seq=0, count=3))
    with pytest.raises(DuplicateSequenceError):
        manager.check_and_prepare([header(9, seq=INT32_MAX - 1, count=2)])
    # A batch straddling the wrap: 2**31-1, 0, 1.
    other = ProducerStateManager(manager.log_dir)
    append(other, header(0, pid=5, seq=INT32_MAX - 3, count=3))
    append(other, header(3, pid=5, seq=INT32_MAX, count=3))
    entry = other.last_entry(5)
    assert entry is not None and entry.last_seq == 1
    assert entry.batch_metadata[-1].first_seq == INT32_MAX


def test_non_idempotent_batches_are_ignored(manager: ProducerStateManager) -> None:
    pending = manager.check_and_prepare([header(0, pid=-1, epoch=-1, seq=-1)])
    assert pending == {}
    manager.update(pending)
    assert dict(manager.active_producers) == {}


def test_replication_origin_skips_sequence_and_epoch_checks(manager: ProducerStateManager) -> None:
    manager.append_batch(header(0, epoch=5, seq=0))
    manager.append_batch(header(1, epoch=5, seq=10))  # the leader accepted it
    manager.append_batch(header(2, epoch=4, seq=0), AppendOrigin.REPLICATION)
    entry = manager.last_entry(1)
    assert entry is not None and entry.producer_epoch == 4


def test_control_batch_updates_epoch_only(manager: ProducerStateManager) -> None:
    append(manager, header(0, epoch=1, seq=0))
    manager.append_batch(
        header(1, epoch=2, seq=-1, attributes=CONTROL_MASK), AppendOrigin.COORDINATOR
    )
    entry = manager.last_entry(1)
    assert entry is not None and entry.producer_epoch == 2 and entry.is_empty


def test_rebuild_from_replays_only_new_batches(manager: ProducerStateManager) -> None:
    headers = [header(0, seq=0, count=2), header(2, pid=-1, epoch=-1, seq=-1), header(3, seq=2)]
    manager.rebuild_from(headers)
    assert manager.map_end_offset == 4
    manager.rebuild_from(headers)  # already reflected: no effect
    entry = manager.last_entry(1)
    assert entry is not None and len(entry.batch_metadata) == 2


def test_remove_expired_producers(manager: ProducerStateManager) -> None:
    append(manager, header(0, pid=1, timestamp=1_000))
    append(manager, header(1, pid=2, timestamp=5_000))
    assert manager.remove_expired_producers(now_ms=10_000, producer_id_expiration_ms=6_000) == [1]
    assert list(manager.active_producers) == [2]


def test_snapshot_round_trip(manager: ProducerStateManager, tmp_path: Path) -> None:
    for i in range(7):
        append(manager, header(i, pid=1, seq=i, timestamp=100 + i))
    append(manager, header(7, pid=2, epoch=3, seq=50, count=4))
    path = manager.take_snapshot()
    assert path == tmp_path / "00000000000000000011.snapshot"
    assert manager.take_snapshot() is None  # nothing new
    reloaded = ProducerStateManager(tmp_path)
    assert reloaded.load_latest_snapshot(max_offset=100) == 11
    assert reloaded.map_end_offset == 11
    assert dict(reloaded.active_producers) == dict(manager.active_producers)
    # Duplicate detection survives the restart, for all five remembered batches.
    with pytest.raises(DuplicateSequenceError):
        reloaded.check_and_prepare([header(99, pid=1, seq=2)])


def test_load_skips_newer_and_corrupt_snapshots(
    manager: ProducerStateManager, tmp_path: Path
) -> None:
    append(manager, header(0, seq=0))
    manager.take_snapshot()
    append(manager, header(1, seq=1))
    manager.take_snapshot()
    append(manager, header(2, seq=2))
    manager.take_snapshot()
    assert list_snapshot_offsets(tmp_path) == [1, 2, 3]
    corrupt = snapshot_path(tmp_path, 2)
    data = bytearray(corrupt.read_bytes())
    data[-1] ^= 0xFF
    corrupt.write_bytes(bytes(data))
    with pytest.raises(CorruptSnapshotError):
        read_snapshot(corrupt)
    reloaded = ProducerStateManager(tmp_path)
    assert reloaded.load_latest_snapshot(max_offset=2) == 1  # 3 too new, 2 corrupt
    assert list_snapshot_offsets(tmp_path) == [1, 3]
    entry = reloaded.last_entry(1)
    assert entry is not None and entry.last_seq == 0


@pytest.mark.parametrize("cut", [0, 3, 9, 20])
def test_truncated_snapshot_is_corrupt(manager: ProducerStateManager, cut: int) -> None:
    append(manager, header(0))
    path = manager.take_snapshot()
    assert path is not None
    path.write_bytes(path.read_bytes()[:cut])
    with pytest.raises(CorruptSnapshotError):
        read_snapshot(path)


def test_truncate_and_reload(manager: ProducerStateManager, tmp_path: Path) -> None:
    for offset in range(4):
        append(manager, header(offset, seq=offset))
        manager.take_snapshot()
    assert list_snapshot_offsets(tmp_path) == [1, 2, 3, 4]
    manager.truncate_and_reload(log_start_offset=2, log_end_offset=3, now_ms=0)
    assert list_snapshot_offsets(tmp_path) == [2, 3]
    assert manager.map_end_offset == 3
    entry = manager.last_entry(1)
    assert entry is not None and entry.last_seq == 2


def test_truncate_and_reload_without_snapshots_starts_at_log_start(
    manager: ProducerStateManager,
) -> None:
    append(manager, header(0))
    manager.truncate_and_reload(log_start_offset=0, log_end_offset=0, now_ms=0)
    assert manager.map_end_offset == 0
    assert dict(manager.active_producers) == {}


def test_delete_snapshots_below_and_truncate_fully(
    manager: ProducerStateManager, tmp_path: Path
) -> None:
    for offset in range(3):
        append(manager, header(offset, seq=offset))
        manager.take_snapshot()
    manager.delete_snapshots_below(2)
    assert manager.snapshot_offsets() == [2, 3]
    manager.truncate_fully_and_start_at(50)
    assert manager.snapshot_offsets() == []
    assert manager.map_end_offset == 50 and not manager.active_producers
