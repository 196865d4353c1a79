"""LogSegment: append, index entries, reads of whole batches, recovery, truncation."""

from __future__ import annotations

import gc
from pathlib import Path

from brook.records.batch import iter_batches, read_batch_header
from brook.records.record import decode_records
from brook.storage.segment import LogSegment, segment_file_name
from tests.support.storage_batches import make_batch


def new_segment(directory: Path, base_offset: int = 0, interval: int = 100) -> LogSegment:
    return LogSegment(
        directory,
        base_offset,
        index_interval_bytes=interval,
        max_index_size=1 << 20,
        roll_jitter_ms=0,
        created_ms=0,
    )


def fill(
    segment: LogSegment,
    batches: int,
    records: int = 2,
    start: int | None = None,
    value_size: int = 10,
) -> list[int]:
    """Append ``batches`` batches; return their sizes."""
    offset = segment.base_offset if start is None else start
    sizes = []
    for _ in range(batches):
        batch = make_batch(
            records, base_offset=offset, timestamp=1000 + offset, value_size=value_size
        )
        segment.append(
            memoryview(batch),
            offset + records - 1,
            1000 + offset + records - 1,
            offset + records - 1,
        )
        sizes.append(len(batch))
        offset += records
    return sizes


def test_file_names_follow_kafka(tmp_path: Path) -> None:
    assert segment_file_name(42, ".log") == "00000000000000000042.log"
    segment = new_segment(tmp_path, 42)
    fill(segment, 1, start=42)
    segment.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "00000000000000000042.index",
        "00000000000000000042.log",
        "00000000000000000042.timeindex",
    ]


def test_append_adds_index_entries_every_interval(tmp_path: Path) -> None:
    segment = new_segment(tmp_path, interval=100)
    sizes = fill(segment, 20)
    assert sizes[0] > 50
    assert segment.offset_index.entries > 5
    assert segment.size_bytes == sum(sizes)
    assert segment.read_next_offset() == 40
    assert segment.max_timestamp_so_far == 1039
    for offset in range(40):
        position, _size = segment.translate_offset(offset) or (-1, -1)
        header = read_batch_header(Path(segment.log_path).read_bytes(), position)
        assert header.base_offset <= offset <= header.last_offset
    assert segment.translate_offset(40) is None


def test_read_returns_whole_batches_within_max_bytes(tmp_path: Path) -> None:
    segment = new_segment(tmp_path)
    sizes = fill(segment, 10)
    result = segment.read(4, max_bytes=sizes[0] * 3 + 5)
    assert result is not None
    assert result.position == sum(sizes[:2])
    assert result.size == sum(sizes[2:5])
    offsets = [h.base_offset for _, h in iter_batches(result.chunks[0])]
    assert offsets == [4, 6, 8]
    # Starting mid-batch returns the batch holding the offset.
    mid = segment.read(5, max_bytes=10_000)
    assert mid is not None
    assert read_batch_header(mid.chunks[0]).base_offset == 4


def test_read_min_one_batch_and_max_position(tmp_path: Path) -> None:
    segment = new_segment(tmp_path)
    sizes = fill(segment, 5)
    empty = segment.read(0, max_bytes=10)
    assert empty is not None and empty.chunks == []
    one = segment.read(0, max_bytes=10, min_one_batch=True)
    assert one is not None and one.size == sizes[0]
    bounded = segment.read(0, max_bytes=1 << 20, max_position=sizes[0] + sizes[1])
    assert bounded is not None and bounded.size == sizes[0] + sizes[1]
    records = decode_records(bounded.chunks[0], sizes[0])
    assert [r.offset for r in records] == [2, 3]


def test_small_tail_reads_use_pread_large_reads_the_map(tmp_path: Path) -> None:
    segment = new_segment(tmp_path)
    fill(segment, 4)
    small = segment.read(0, max_bytes=1 << 20)
    assert small is not None and isinstance(small.chunks[0].obj, bytes)
    assert segment.log._map is None
    fill(segment, 20, start=8, value_size=5000)
    large = segment.read(0, max_bytes=1 << 20)
    assert large is not None and large.chunks[0].obj is segment.log._map
    # Now mapped: a small read inside the map is a view, not a copy.
    inside = segment.read(2, max_bytes=100)
    assert inside is not None and inside.chunks[0].obj is segment.log._map


def test_read_remaps_after_growth_and_old_views_stay_valid(tmp_path: Path) -> None:
    segment = new_segment(tmp_path)
    fill(segment, 2, value_size=40_000)
    first = segment.read(0, max_bytes=1 << 20)
    assert first is not None
    held = bytes(first.chunks[0])
    old_map = segment.log._map
    fill(segment, 3, start=4, value_size=40_000)
    second = segment.read(4, max_bytes=1 << 20)
    assert second is not None
    assert read_batch_header(second.chunks[0]).base_offset == 4
    assert segment.log._map is not old_map
    assert bytes(first.chunks[0]) == held


def test_recover_rebuilds_indexes(tmp_path: Path) -> None:
    segment = new_segment(tmp_path)
    fill(segment, 30)
    entries = [segment.offset_index.entry(i) for i in range(segment.offset_index.entries)]
    segment.close()
    reopened = new_segment(tmp_path)
    seen: list[int] = []
    assert reopened.recover(lambda view, pos, header: seen.append(header.base_offset)) == 0
    assert seen == list(range(0, 60, 2))
    assert [reopened.offset_index.entry(i) for i in range(reopened.offset_index.entries)] == entries
    assert reopened.max_timestamp_so_far == 1059


def test_recover_truncates_torn_tail(tmp_path: Path) -> None:
    segment = new_segment(tmp_path)
    sizes = fill(segment, 5)
    segment.close()
    with open(segment.log_path, "r+b") as f:
        f.truncate(sum(sizes) - 7)
    reopened = new_segment(tmp_path)
    assert reopened.recover() == sizes[4] - 7
    assert reopened.read_next_offset() == 8
    assert reopened.size_bytes == sum(sizes[:4])


def test_recover_truncates_from_corrupted_batch(tmp_path: Path) -> None:
    segment = new_segment(tmp_path)
    sizes = fill(segment, 6)
    segment.close()
    data = bytearray(segment.log_path.read_bytes())
    data[sum(sizes[:2]) + 70] ^= 0xFF  # inside the third batch's records
    segment.log_path.write_bytes(data)
    reopened = new_segment(tmp_path)
    assert reopened.recover() == sum(sizes[2:])
    assert reopened.read_next_offset() == 4


def test_truncate_to_and_append_again(tmp_path: Path) -> None:
    segment = new_segment(tmp_path)
    sizes = fill(segment, 10)
    assert segment.truncate_to(7) == sum(sizes[3:])
    assert segment.read_next_offset() == 6
    fill(segment, 2, start=6)
    assert segment.read_next_offset() == 10
    assert segment.translate_offset(9) is not None


def test_truncate_with_live_view_keeps_old_bytes(tmp_path: Path) -> None:
    segment = new_segment(tmp_path)
    fill(segment, 10, value_size=5000)  # large enough to be served from the map
    held = segment.read(0, max_bytes=1 << 20)
    assert held is not None
    assert held.chunks[0].obj is segment.log._map
    copy = bytes(held.chunks[0])
    segment.truncate_to(4)
    assert bytes(held.chunks[0]) == copy  # still readable: the old inode was kept
    assert segment.log_path.stat().st_size == segment.size_bytes
    assert segment.read_next_offset() == 4
    del held
    gc.collect()


def test_find_offset_by_timestamp(tmp_path: Path) -> None:
    segment = new_segment(tmp_path)
    offset = 0
    for ts in ([100, 105], [110, 90], [200, 300], [250, 400]):
        batch = make_batch(2, base_offset=offset, timestamps=ts)
        segment.append(memoryview(batch), offset + 1, max(ts), offset + 1)
        offset += 2
    assert segment.find_offset_by_timestamp(101, 0) == (105, 1, -1)
    assert segment.find_offset_by_timestamp(111, 0) == (200, 4, -1)
    assert segment.find_offset_by_timestamp(301, 0) == (400, 7, -1)
    assert segment.find_offset_by_timestamp(401, 0) is None
    assert segment.find_offset_by_timestamp(0, 3) == (90, 3, -1)


def test_should_roll_by_size_time_and_offsets(tmp_path: Path) -> None:
    segment = new_segment(tmp_path)
    common = {"max_offset_in_messages": 10, "now_ms": 0, "segment_ms": 1000}
    assert not segment.should_roll(
        messages_size=10**9, max_timestamp_in_messages=0, segment_bytes=100, **common
    )
    sizes = fill(segment, 1)
    assert segment.should_roll(
        messages_size=100, max_timestamp_in_messages=0, segment_bytes=sizes[0] + 50, **common
    )
    assert not segment.should_roll(
        messages_size=10, max_timestamp_in_messages=1500, segment_bytes=10**6, **common
    )
    assert segment.should_roll(
        messages_size=10, max_timestamp_in_messages=2002, segment_bytes=10**6, **common
    )
    assert segment.should_roll(
        messages_size=10,
        max_timestamp_in_messages=0,
        segment_bytes=10**6,
        max_offset_in_messages=2**31 + 5,
        now_ms=0,
        segment_ms=10**9,
    )


def test_flush_and_delete(tmp_path: Path) -> None:
    segment = new_segment(tmp_path)
    fill(segment, 50)
    segment.flush()
    assert segment.offset_index.path.stat().st_size == segment.offset_index.entries * 8
    segment.delete()
    assert list(tmp_path.iterdir()) == []
    segment.flush()  # a flush racing a delete must not recreate files
    assert list(tmp_path.iterdir()) == []


def test_sanity_check_after_clean_close(tmp_path: Path) -> None:
    segment = new_segment(tmp_path)
    fill(segment, 30)
    segment.close()
    reopened = new_segment(tmp_path)
    reopened.sanity_check()
    assert reopened.read_next_offset() == 60
    assert reopened.max_timestamp_so_far == 1059
    assert reopened.largest_timestamp == 1059
