"""Log compaction on real files: what survives a pass, offsets, tombstones, lags, codecs,
readers during a pass, crash safety of the swap, and idempotent producer state."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from brook.records.batch import iter_batches, read_batch_header
from brook.records.compression import CompressionType
from brook.records.record import Record, build_batch, iter_records_in_batches
from brook.storage import cleaner as cleaner_module
from brook.storage.cleaner import CLEANED_FILE_SUFFIX, SWAP_FILE_SUFFIX, Cleaner
from brook.storage.cleaner_manager import clean_now
from brook.storage.log import Log
from brook.storage.log_config import LogConfig
from brook.storage.log_validator import ValidatedBatches, analyze_and_validate_records
from brook.storage.producer_state import list_snapshot_offsets, snapshot_path
from brook.storage.segment import LogSegment
from tests.support.storage_batches import config

Entry = tuple[bytes | None, bytes | None]


def open_log(
    directory: Path, cfg: LogConfig, *, clean: bool = True, recovery_point: int = 0
) -> Log:
    return Log.open(
        directory, cfg, recovery_point=recovery_point, log_start_offset=0,
        clean_shutdown=clean, now_ms=0,
    )  # fmt: skip


def as_replica(batch: bytes | bytearray, log: Log) -> ValidatedBatches:
    """Validation as for a batch that came from another replica, not a client: keyless
    records may enter a compacted log (as they can through replication)."""
    return analyze_and_validate_records(memoryview(batch), log.config, origin_client=False)


def compact(**overrides: str | int) -> LogConfig:
    overrides.setdefault("cleanup_policy", "compact")
    overrides.setdefault("segment_bytes", 2_000)
    return config(**overrides)


def produce(
    log: Log,
    entries: list[Entry],
    *,
    now_ms: int = 1_000,
    compression: int = CompressionType.NONE,
    producer_id: int = -1,
    producer_epoch: int = -1,
    base_sequence: int = -1,
) -> tuple[int, int]:
    batch = build_batch(
        [(k, v, [], now_ms) for k, v in entries],
        compression=compression,
        producer_id=producer_id,
        producer_epoch=producer_epoch,
        base_sequence=base_sequence,
    )
    info = log.append_as_leader(memoryview(batch), 0, now_ms)
    return info.first_offset, info.last_offset


def read_records(log: Log, start: int | None = None) -> list[Record]:
    start = log.log_start_offset if start is None else start
    data = log.read(start, 1 << 30, log.log_end_offset, True)
    return [r for chunk in data.chunks for r in iter_records_in_batches(chunk)]


def latest(records: list[Record]) -> dict[bytes | None, bytes | None]:
    return {r.key: r.value for r in records}


def fill_updates(log: Log, keys: int, rounds: int, *, now_ms: int = 1_000) -> dict[int, Entry]:
    """``rounds`` updates of each key, one record per batch; returns offset -> (key, value)."""
    written: dict[int, Entry] = {}
    for n in range(rounds):
        for k in range(keys):
            entry = (b"key-%d" % k, b"value-%d-%d" % (k, n))
            first, _ = produce(log, [entry], now_ms=now_ms)
            written[first] = entry
    return written


def test_keeps_latest_value_per_key_at_original_offsets(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0", compact())
    written = fill_updates(log, keys=10, rounds=30)
    end = log.log_end_offset
    segments_before, size_before = log.num_segments, log.size_bytes
    active = log.active_segment
    before = read_records(log)
    stats = clean_now(log, 2_000)
    assert stats is not None and stats.complete and stats.groups_cleaned >= 1
    after = read_records(log)
    assert log.log_end_offset == end and log.active_segment is active
    assert log.size_bytes < size_before
    for record in after:
        assert written[record.offset] == (record.key, record.value)
    assert latest(after) == latest(before)
    below_active = [r for r in after if r.offset < active.base_offset]
    assert len({r.key for r in below_active}) == len(below_active)
    assert [r.offset for r in after] == sorted(r.offset for r in after)
    assert stats.records_retained < stats.records_read
    clean_now(log, 2_000)  # the small cleaned segments are now merged
    assert log.num_segments < segments_before
    assert read_records(log) == after


def test_cleaned_log_survives_reopen_and_cleaning_is_idempotent(tmp_path: Path) -> None:
    directory = tmp_path / "t-0"
    log = open_log(directory, compact())
    fill_updates(log, keys=5, rounds=20)
    clean_now(log, 2_000)
    after = read_records(log)
    stats = clean_now(log, 2_000)
    assert stats is not None and stats.records_retained == stats.records_read
    assert read_records(log) == after
    log.close()
    reopened = open_log(directory, compact(), clean=False)
    assert read_records(reopened) == after
    assert not [p for p in directory.iterdir() if p.name.endswith((".cleaned", ".swap"))]


def test_tombstones_kept_until_delete_retention_passes(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0", compact(delete_retention_ms=1_000, segment_bytes=400))
    produce(log, [(b"a", b"1"), (b"b", b"1")])
    tombstone, _ = produce(log, [(b"a", None)])
    fill_updates(log, keys=3, rounds=4)  # pushes the tombstone out of the active segment
    clean_now(log, 10_000)
    records = read_records(log)
    assert [(r.offset, r.value) for r in records if r.key == b"a"] == [(tombstone, None)]
    batch = next(
        read_batch_header(chunk, pos)
        for chunk in log.read(tombstone, 1 << 20, log.log_end_offset, True).chunks
        for pos, _ in iter_batches(chunk)
    )
    assert batch.has_delete_horizon and batch.base_timestamp == 11_000
    clean_now(log, 10_999)
    assert [r.offset for r in read_records(log) if r.key == b"a"] == [tombstone]
    stats = clean_now(log, 11_000)
    assert stats is not None and stats.tombstones_removed == 1
    assert [r for r in read_records(log) if r.key == b"a"] == []
    assert latest(read_records(log))[b"b"] == b"1"


def test_min_compaction_lag_protects_young_segments(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0", compact(min_compaction_lag_ms=5_000))
    fill_updates(log, keys=4, rounds=20, now_ms=1_000)
    count = len(read_records(log))
    assert clean_now(log, 5_999) is None  # every segment holds records younger than the lag
    assert len(read_records(log)) == count
    stats = clean_now(log, 6_000)
    assert stats is not None and len(read_records(log)) < count


def test_min_compaction_lag_splits_old_and_young(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0", compact(min_compaction_lag_ms=5_000))
    old = fill_updates(log, keys=4, rounds=20, now_ms=1_000)
    log.roll(1_000)
    young = fill_updates(log, keys=4, rounds=20, now_ms=9_000)
    clean_now(log, 10_000)
    offsets = {r.offset for r in read_records(log)}
    assert len(offsets & set(old)) == 4  # old segments compacted among themselves
    assert set(young) - {o for o in young if o >= log.active_segment.base_offset} <= offsets


@pytest.mark.parametrize("codec", [CompressionType.GZIP, CompressionType.ZSTD])
def test_compressed_batches_keep_their_codec(tmp_path: Path, codec: CompressionType) -> None:
    log = open_log(tmp_path / "t-0", compact(segment_bytes=1_500))
    written: dict[int, Entry] = {}
    for n in range(30):
        entries: list[Entry] = [(b"k%d" % ((n + i) % 7), b"v%d-%d" % (n, i) * 5) for i in range(4)]
        first, _ = produce(log, entries, compression=codec)
        written.update({first + i: e for i, e in enumerate(entries)})
    before = latest(read_records(log))
    stats = clean_now(log, 2_000)
    assert stats is not None and stats.records_retained < stats.records_read
    data = log.read(0, 1 << 30, log.log_end_offset, True)
    headers = [read_batch_header(c, p) for c in data.chunks for p, _ in iter_batches(c)]
    assert {h.compression for h in headers} == {codec}
    assert any(h.records_count < h.last_offset_delta + 1 for h in headers)
    after = read_records(log)
    assert all(written[r.offset] == (r.key, r.value) for r in after)
    assert latest(after) == before


def test_null_keys_are_dropped_as_invalid(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0", compact(segment_bytes=300))
    # Clients cannot write keyless records to a compacted topic; records written before the
    # topic became compacted (here: appended as a non-client origin) can still be there.
    keyless = build_batch([(None, b"x", (), 1_000), (b"k", b"1", (), 1_000)])
    log.append_as_leader(memoryview(keyless), 0, 1_000, validated=as_replica(keyless, log))
    fill_updates(log, keys=2, rounds=5)
    stats = clean_now(log, 2_000)
    assert stats is not None and stats.invalid_records == 1
    assert None not in latest(read_records(log))


def test_readers_see_a_valid_compacted_view_while_cleaning(tmp_path: Path) -> None:
    """A consumer reads from the start in small fetches while passes run between (and
    around) its fetches; views it holds from before a swap stay readable."""
    log = open_log(tmp_path / "t-0", compact(segment_bytes=1_000))
    written = fill_updates(log, keys=6, rounds=15)
    cleaner = Cleaner()
    position = 0
    held: list[memoryview] = []
    seen: dict[bytes | None, bytes | None] = {}
    step = 0
    while position < log.log_end_offset:
        data = log.read(position, 300, log.log_end_offset, True)
        held.extend(data.chunks)
        for record in (r for chunk in data.chunks for r in iter_records_in_batches(chunk)):
            assert record.offset >= position
            assert written[record.offset] == (record.key, record.value)
            seen[record.key] = record.value
            position = record.offset + 1
        if not data.chunks:  # the rest of a segment was cleaned away
            following = [s.base_offset for s in log.segments if s.base_offset > position]
            position = following[0] if following else log.log_end_offset
        step += 1
        if step % 3 == 0:
            plan = cleaner.prepare(log, 2_000, 0, log.active_segment.base_offset)
            if plan is not None:
                result = cleaner.build(plan)
                more = fill_updates(log, keys=6, rounds=1)  # appends while "the thread" ran
                written.update(more)
                cleaner.swap(log, result)
    assert seen == latest(read_records(log))
    for view in held:  # old maps are still intact after their files were replaced
        assert all(r.offset in written for r in iter_records_in_batches(view))


def test_swap_is_abandoned_when_the_log_changes(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0", compact())
    fill_updates(log, keys=5, rounds=20)
    before = read_records(log)
    cleaner = Cleaner()
    plan = cleaner.prepare(log, 2_000, 0, log.active_segment.base_offset)
    assert plan is not None
    result = cleaner.build(plan)
    log.truncate_to(log.log_end_offset - 1)
    stats = cleaner.swap(log, result)
    assert stats.groups_cleaned == 0 and not stats.complete
    assert read_records(log) == before[:-1]
    assert not [p for p in log.dir.iterdir() if p.name.endswith((".cleaned", ".swap"))]


def test_retention_during_a_pass_only_drops_affected_groups(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0", compact(segment_bytes=600))
    fill_updates(log, keys=5, rounds=20)
    cleaner = Cleaner()
    plan = cleaner.prepare(log, 2_000, 0, log.active_segment.base_offset)
    assert plan is not None
    plan.segment_bytes = 700  # one group per segment
    result = cleaner.build(plan)
    assert len(result.cleaned) > 2
    log.maybe_increment_log_start_offset(log.segments[1].base_offset)
    stats = cleaner.swap(log, result)
    assert stats.groups_aborted == 1 and stats.groups_cleaned == len(result.cleaned) - 1
    assert [r.offset for r in read_records(log)] == sorted(r.offset for r in read_records(log))


def test_abort_stops_a_pass_and_leaves_nothing(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0", compact())
    fill_updates(log, keys=5, rounds=20)
    cleaner = Cleaner()
    plan = cleaner.prepare(log, 2_000, 0, log.active_segment.base_offset)
    assert plan is not None
    cleaner.abort.set()
    with pytest.raises(cleaner_module.CleaningAbortedError):
        cleaner.build(plan)
    assert all(source.fd == -1 for source in plan.sources)
    assert not [p for p in log.dir.iterdir() if p.name.endswith((".cleaned", ".swap"))]


def test_high_watermark_bounds_the_offset_map(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0", compact(segment_bytes=300))
    produce(log, [(b"a", b"old")])
    fill_updates(log, keys=2, rounds=5)
    newer, _ = produce(log, [(b"a", b"new")])
    fill_updates(log, keys=2, rounds=5)
    clean_now(log, 2_000, high_watermark=newer)
    values = [r.value for r in read_records(log) if r.key == b"a"]
    assert values == [b"old", b"new"]  # "new" is above the high watermark: decides nothing
    clean_now(log, 2_000)
    assert [r.value for r in read_records(log) if r.key == b"a"] == [b"new"]


def test_compact_delete_also_applies_retention(tmp_path: Path) -> None:
    cfg = compact(cleanup_policy="compact,delete", retention_ms=10_000)
    log = open_log(tmp_path / "t-0", cfg)
    for n in range(20):  # old keys never updated again: compaction alone keeps them
        produce(log, [(b"old-%d" % n, b"x" * 50)], now_ms=1_000)
    log.roll(1_000)
    fill_updates(log, keys=3, rounds=10, now_ms=50_000)
    clean_now(log, 50_000)
    assert {r.key for r in read_records(log)} >= {b"old-%d" % n for n in range(20)}
    assert log.delete_old_segments(now_ms=50_000) > 0
    records = read_records(log)
    assert records and all(r.timestamp == 50_000 for r in records)


def test_idempotent_producer_state_survives_cleaning(tmp_path: Path) -> None:
    directory = tmp_path / "t-0"
    log = open_log(directory, compact(segment_bytes=300))
    pid, epoch = 42, 3
    for seq in range(4):
        produce(
            log, [(b"p", b"%d" % seq)], producer_id=pid, producer_epoch=epoch, base_sequence=seq
        )
    last = build_batch(
        [(b"p", b"3", [], 1_000)], producer_id=pid, producer_epoch=epoch, base_sequence=3
    )
    produce(log, [(b"p", b"overwritten")])
    fill_updates(log, keys=3, rounds=6)
    stats = clean_now(log, 2_000)
    assert stats is not None and stats.empty_batches_written == 1
    assert all(r.producer_id != pid for r in read_records(log))  # only the empty batch remains
    log.close()
    for offset in list_snapshot_offsets(directory):  # force a rebuild from the log itself
        snapshot_path(directory, offset).unlink()
    reopened = open_log(directory, compact(segment_bytes=300), clean=False)
    entry = reopened.producer_state.last_entry(pid)
    assert entry is not None and entry.last_seq == 3 and entry.producer_epoch == epoch
    retry = reopened.append_as_leader(memoryview(last), 0, 3_000)
    assert retry.duplicate and retry.first_offset == 3
    nxt = build_batch(
        [(b"p", b"4", [], 3_000)], producer_id=pid, producer_epoch=epoch, base_sequence=4
    )
    assert not reopened.append_as_leader(memoryview(nxt), 0, 3_000).duplicate


# -- crash safety ---------------------------------------------------------------------------


class _Crash(Exception):
    pass


def _crash_on(calls: list[int], n: int, real: Callable[..., Any]) -> Callable[..., Any]:
    def op(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        if calls[0] == n:
            raise _Crash
        return real(*args, **kwargs)

    return op


def _abandon(log: Log) -> None:
    """What a crash leaves: descriptors gone, nothing written."""
    for segment in log.segments:
        segment.close_handlers()


def _crash_points() -> Iterator[tuple[str, int]]:
    for n in range(1, 7):
        yield "replace", n
    for n in range(1, 6):
        yield "delete", n


@pytest.mark.parametrize(("operation", "n"), list(_crash_points()))
def test_crash_during_swap_leaves_a_valid_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, operation: str, n: int
) -> None:
    directory = tmp_path / "t-0"
    cfg = compact(segment_bytes=700)
    log = open_log(directory, cfg)
    written = fill_updates(log, keys=4, rounds=25)
    log.flush()
    log.update_config(compact(segment_bytes=100_000))  # one group of many segments
    before = read_records(log)
    end = log.log_end_offset
    calls = [0]
    if operation == "replace":
        monkeypatch.setattr(os, "replace", _crash_on(calls, n, os.replace))
    else:
        monkeypatch.setattr(LogSegment, "delete", _crash_on(calls, n, LogSegment.delete))
    with pytest.raises(_Crash):
        clean_now(log, 2_000, cleaner_config=cleaner_module.CleanerConfig(io_buffer_size=4096))
    monkeypatch.undo()
    _abandon(log)
    reopened = open_log(directory, cfg, clean=False, recovery_point=end)
    assert reopened.log_end_offset == end
    after = read_records(reopened)
    assert [r.offset for r in after] == sorted({r.offset for r in after})
    assert all(written[r.offset] == (r.key, r.value) for r in after)
    assert latest(after) == latest(before)
    assert not [
        p for p in directory.iterdir() if p.name.endswith((CLEANED_FILE_SUFFIX, SWAP_FILE_SUFFIX))
    ]
    for segment in reopened.segments:
        segment.sanity_check()
    clean_now(reopened, 2_000)
    assert latest(read_records(reopened)) == latest(before)


def test_leftover_cleaned_files_are_ignored_on_reopen(tmp_path: Path) -> None:
    directory = tmp_path / "t-0"
    log = open_log(directory, compact())
    fill_updates(log, keys=4, rounds=20)
    before = read_records(log)
    cleaner = Cleaner()
    plan = cleaner.prepare(log, 2_000, 0, log.active_segment.base_offset)
    assert plan is not None
    cleaner.build(plan)  # crash before the swap: only .cleaned files exist
    assert [p for p in directory.iterdir() if p.name.endswith(CLEANED_FILE_SUFFIX)]
    _abandon(log)
    reopened = open_log(directory, compact(), clean=False)
    assert read_records(reopened) == before
    assert not [p for p in directory.iterdir() if p.name.endswith(CLEANED_FILE_SUFFIX)]


def test_committed_swap_file_is_completed_on_reopen(tmp_path: Path) -> None:
    """A ``.log.swap`` next to the segments it replaces (the commit rename done, nothing
    after it) is swapped in by the loader; its indexes are rebuilt."""
    directory = tmp_path / "t-0"
    log = open_log(directory, compact())
    fill_updates(log, keys=4, rounds=20)
    cleaner = Cleaner()
    plan = cleaner.prepare(log, 2_000, 0, log.active_segment.base_offset)
    assert plan is not None
    result = cleaner.build(plan)
    cleaned = result.cleaned[0]
    shutil.copyfile(
        cleaned.path(".log", CLEANED_FILE_SUFFIX), cleaned.path(".log", SWAP_FILE_SUFFIX)
    )
    expected_bases = {cleaned.base_offset} | {
        s.segment.base_offset for s in plan.sources if s not in cleaned.sources
    }
    expected_bases.add(log.active_segment.base_offset)
    _abandon(log)
    reopened = open_log(directory, compact(), clean=False)
    assert {s.base_offset for s in reopened.segments} <= expected_bases
    records = read_records(reopened)
    first = [r for r in records if r.offset < cleaned.sources[-1].following.base_offset]
    assert len({r.key for r in first}) == len(first)
    assert (directory / f"{cleaned.base_offset:020d}.index").exists()
    reopened.segments[0].sanity_check()


def _record_bomb(count: int) -> bytearray:
    """A zstd batch of ``count`` minimal (7-byte, null key and value) records: a few KB on
    disk that a reader expanding one object per record would turn into gigabytes."""
    import struct

    import cramjam

    from brook.records.batch import BATCH_HEADER, HEADER_SIZE, write_crc

    body = bytes(cramjam.zstd.compress(bytes([12, 0, 0, 0, 1, 1, 0]) * count))
    out = bytearray(HEADER_SIZE) + body
    BATCH_HEADER.pack_into(out, 0, 0, len(out) - 12, 0, 2, 0, CompressionType.ZSTD,
                           count - 1, 1_000, 1_000, -1, -1, -1, count)  # fmt: skip
    write_crc(out, 0, len(out))
    assert struct.unpack_from(">i", out, 57)[0] == count
    return out


def test_compressed_batch_with_millions_of_records_fails_the_pass_in_bounded_memory(
    tmp_path: Path,
) -> None:
    import resource

    from brook.records.errors import CorruptRecordError, InvalidRecordError

    log = open_log(tmp_path, compact(segment_bytes=1 << 20))
    bomb = _record_bomb(9_000_000)  # 63 MB of records: under the old 64 MiB bound
    assert len(bomb) < 20_000
    # Stored as a follower would (the leader now refuses it), then more data after it.
    log.append_as_leader(memoryview(bomb), 0, 1_000, validated=as_replica(bomb, log))
    produce(log, [(b"k", b"v")] * 3)
    log.roll(2_000)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises((CorruptRecordError, InvalidRecordError)):
        Cleaner().clean(log, 10_000, 0, log.log_end_offset)
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mib < 200
