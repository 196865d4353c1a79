"""Recovery after an unclean shutdown: torn tails, corrupted batches, lost indexes."""

from __future__ import annotations

from pathlib import Path

from brook.records.record import iter_records_in_batches
from brook.storage.log import Log
from tests.support.storage_batches import config, make_batch


def open_log(
    directory: Path, *, clean: bool, recovery_point: int = 0, segment_bytes: int = 1 << 20
) -> Log:
    return Log.open(
        directory,
        config(segment_bytes=segment_bytes),
        recovery_point=recovery_point,
        log_start_offset=0,
        clean_shutdown=clean,
        now_ms=0,
    )


def fill(log: Log, batches: int, records: int = 2) -> list[int]:
    return [
        log.append_as_leader(memoryview(make_batch(records)), 3, 1_000).valid_bytes
        for _ in range(batches)
    ]


def crash(log: Log) -> None:
    """Drop the log without close(): no snapshot, no index flush."""
    for segment in log.segments:
        segment.close_handlers()


def all_offsets(log: Log) -> list[int]:
    data = log.read(log.log_start_offset, 1 << 30, log.log_end_offset, True)
    return [r.offset for chunk in data.chunks for r in iter_records_in_batches(chunk)]


def test_torn_tail_is_truncated_to_last_whole_batch(tmp_path: Path) -> None:
    directory = tmp_path / "t-0"
    log = open_log(directory, clean=True)
    sizes = fill(log, 10)
    crash(log)
    path = log.active_segment.log_path
    with open(path, "r+b") as f:
        f.truncate(sum(sizes) - sizes[-1] // 2)
    reopened = open_log(directory, clean=False)
    assert reopened.log_end_offset == 18
    assert reopened.active_segment.size_bytes == sum(sizes[:9])
    assert all_offsets(reopened) == list(range(18))
    assert reopened.append_as_leader(memoryview(make_batch(1)), 3, 1_000).first_offset == 18


def test_corrupted_batch_mid_segment_truncates_from_there(tmp_path: Path) -> None:
    directory = tmp_path / "t-0"
    log = open_log(directory, clean=True)
    sizes = fill(log, 10)
    crash(log)
    path = log.active_segment.log_path
    data = bytearray(path.read_bytes())
    data[sum(sizes[:4]) + 65] ^= 0x40
    path.write_bytes(data)
    reopened = open_log(directory, clean=False)
    assert reopened.log_end_offset == 8
    assert all_offsets(reopened) == list(range(8))


def test_corruption_in_older_segment_deletes_later_segments(tmp_path: Path) -> None:
    directory = tmp_path / "t-0"
    size = len(make_batch(2))
    log = open_log(directory, clean=True, segment_bytes=size * 4)
    fill(log, 12)
    assert log.num_segments == 3
    crash(log)
    second = log.segments[1].log_path
    data = bytearray(second.read_bytes())
    data[size + 70] ^= 1
    second.write_bytes(data)
    reopened = open_log(directory, clean=False, segment_bytes=size * 4)
    assert reopened.num_segments == 2
    assert reopened.log_end_offset == 10
    assert sorted(p.name for p in directory.glob("*.log")) == [
        "00000000000000000000.log",
        "00000000000000000008.log",
    ]


def test_recovery_starts_at_recovery_point(tmp_path: Path) -> None:
    directory = tmp_path / "t-0"
    size = len(make_batch(2))
    log = open_log(directory, clean=True, segment_bytes=size * 4)
    fill(log, 12)
    log.flush(8)
    assert log.recovery_point == 8
    crash(log)
    # Corruption below the recovery point is not looked for (Kafka's behaviour) ...
    first = log.segments[0].log_path
    data = bytearray(first.read_bytes())
    data[size + 70] ^= 1
    first.write_bytes(data)
    reopened = open_log(directory, clean=False, recovery_point=8, segment_bytes=size * 4)
    assert reopened.log_end_offset == 24
    assert reopened.recovery_point == 8


def test_clean_restart_does_not_scan(tmp_path: Path) -> None:
    directory = tmp_path / "t-0"
    log = open_log(directory, clean=True)
    fill(log, 50)
    log.flush()
    log.close()
    reopened = open_log(directory, clean=True, recovery_point=100)
    assert reopened.log_end_offset == 100
    assert not reopened.segments[0].offset_index._loaded or reopened.num_segments == 1
    assert reopened.leader_epoch_cache.latest_epoch == 3


def test_missing_index_is_rebuilt(tmp_path: Path) -> None:
    directory = tmp_path / "t-0"
    log = open_log(directory, clean=True)
    fill(log, 200)
    log.close()
    log.active_segment.offset_index.path.unlink()
    reopened = open_log(directory, clean=True, recovery_point=400)
    assert reopened.log_end_offset == 400
    assert reopened.active_segment.offset_index.entries > 0
    assert all_offsets(reopened) == list(range(400))


def test_stray_files_are_removed(tmp_path: Path) -> None:
    directory = tmp_path / "t-0"
    log = open_log(directory, clean=True)
    fill(log, 2)
    log.close()
    for name in (
        "00000000000000000099.log.deleted",
        "00000000000000000000.log.swap",
        "00000000000000000050.index",
        "00000000000000000050.timeindex",
    ):
        (directory / name).write_bytes(b"junk")
    reopened = open_log(directory, clean=True, recovery_point=4)
    assert sorted(p.name for p in directory.iterdir() if not p.name.endswith("checkpoint")) == [
        "00000000000000000000.index",
        "00000000000000000000.log",
        "00000000000000000000.timeindex",
        "00000000000000000004.snapshot",
    ]
    assert reopened.log_end_offset == 4


def test_epoch_cache_rebuilt_from_recovered_batches(tmp_path: Path) -> None:
    directory = tmp_path / "t-0"
    log = open_log(directory, clean=True)
    for epoch in (1, 1, 2, 5):
        log.append_as_leader(memoryview(make_batch(1)), epoch, 1_000)
    crash(log)
    (directory / "leader-epoch-checkpoint").unlink(missing_ok=True)  # may not be written yet
    reopened = open_log(directory, clean=False)
    assert [tuple(e) for e in reopened.leader_epoch_cache.entries] == [(1, 0), (2, 2), (5, 3)]
