"""OffsetIndex and TimeIndex: lookups, capacity, truncation, persistence, sanity checks."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from brook.storage.abstract_index import IndexCorruptError
from brook.storage.offset_index import OffsetIndex, OffsetPosition
from brook.storage.time_index import TimeIndex, TimestampOffset


def test_offset_index_lookup_returns_greatest_entry_at_or_below(tmp_path: Path) -> None:
    index = OffsetIndex(tmp_path / "x.index", 100, 1024)
    for i in range(1, 11):
        index.append(100 + i * 10, i * 4096)
    assert index.lookup(99) == OffsetPosition(100, 0)
    assert index.lookup(105) == OffsetPosition(100, 0)
    assert index.lookup(110) == OffsetPosition(110, 4096)
    assert index.lookup(119) == OffsetPosition(110, 4096)
    assert index.lookup(10_000) == OffsetPosition(200, 40960)
    assert index.lookup_by_position(4095) == OffsetPosition(100, 0)
    assert index.lookup_by_position(8192) == OffsetPosition(120, 8192)
    assert index.last_offset == 200


def test_offset_index_rejects_non_increasing_and_fills_up(tmp_path: Path) -> None:
    index = OffsetIndex(tmp_path / "x.index", 0, 3 * 8)
    index.append(1, 10)
    with pytest.raises(ValueError):
        index.append(1, 20)
    index.append(2, 20)
    index.append(3, 30)
    assert index.is_full
    with pytest.raises(ValueError):
        index.append(4, 40)


def test_offset_index_round_trips_kafka_layout(tmp_path: Path) -> None:
    path = tmp_path / "00000000000000000050.index"
    index = OffsetIndex(path, 50, 1 << 20)
    index.append(60, 100)
    index.append(70, 200)
    index.flush()
    assert path.read_bytes() == bytes.fromhex("0000000a0000006400000014000000c8")
    reloaded = OffsetIndex(path, 50, 1 << 20)
    assert reloaded.entries == 2
    assert reloaded.entry(1) == OffsetPosition(70, 200)
    reloaded.sanity_check()


def test_offset_index_truncate_to_removes_entries_at_or_above(tmp_path: Path) -> None:
    path = tmp_path / "x.index"
    index = OffsetIndex(path, 0, 1 << 20)
    for i in range(1, 6):
        index.append(i * 10, i * 100)
    index.flush()
    index.truncate_to(30)
    assert index.entries == 2
    assert path.stat().st_size == 16
    index.append(35, 350)
    index.close()
    assert OffsetIndex(path, 0, 1 << 20).entry(-1) == OffsetPosition(35, 350)


def test_offset_index_sanity_check_detects_torn_file(tmp_path: Path) -> None:
    path = tmp_path / "x.index"
    path.write_bytes(b"\x00" * 8 + b"\x00\x00\x00")
    with pytest.raises(IndexCorruptError):
        OffsetIndex(path, 0, 1024).sanity_check()
    path.write_bytes(bytes.fromhex("00000002000000100000000100000020"))
    with pytest.raises(IndexCorruptError):
        OffsetIndex(path, 0, 1024).sanity_check()


def test_time_index_lookup_and_monotonic_append(tmp_path: Path) -> None:
    index = TimeIndex(tmp_path / "x.timeindex", 1000, 1024)
    assert index.last_entry == TimestampOffset(-1, 1000)
    index.maybe_append(500, 1005)
    index.maybe_append(500, 1006)  # not larger: ignored
    index.maybe_append(400, 1007)  # smaller: ignored
    index.maybe_append(900, 1010)
    assert index.entries == 2
    assert index.lookup(100) == TimestampOffset(-1, 1000)
    assert index.lookup(500) == TimestampOffset(500, 1005)
    assert index.lookup(899) == TimestampOffset(500, 1005)
    assert index.lookup(5000) == TimestampOffset(900, 1010)
    with pytest.raises(ValueError):
        index.maybe_append(1000, 1001)


def test_time_index_persist_truncate_reload(tmp_path: Path) -> None:
    path = tmp_path / "x.timeindex"
    index = TimeIndex(path, 0, 1024)
    for i in range(1, 6):
        index.maybe_append(i * 1000, i * 10)
    index.truncate_to(35)
    index.close()
    assert path.stat().st_size == 3 * 12
    reloaded = TimeIndex(path, 0, 1024)
    assert reloaded.last_entry == TimestampOffset(3000, 30)
    reloaded.sanity_check()


def test_index_loads_lazily(tmp_path: Path) -> None:
    path = tmp_path / "x.index"
    OffsetIndex(path, 0, 1024)
    path.write_bytes(bytes.fromhex("0000000100000010"))
    index = OffsetIndex(path, 0, 1024)
    assert not index._loaded
    assert index.lookup(5) == OffsetPosition(1, 16)


def test_flush_from_thread_while_appending(tmp_path: Path) -> None:
    path = tmp_path / "x.index"
    index = OffsetIndex(path, 0, 1 << 24)
    index.append(1, 1)
    stop = threading.Event()

    def flusher() -> None:
        while not stop.is_set():
            index.flush()

    thread = threading.Thread(target=flusher)
    thread.start()
    for i in range(2, 20_000):
        index.append(i, i * 10)
    stop.set()
    thread.join()
    index.close()
    reloaded = OffsetIndex(path, 0, 1 << 24)
    assert reloaded.entries == 19_999
    reloaded.sanity_check()
    assert reloaded.entry(-1) == OffsetPosition(19_999, 199_990)
