from __future__ import annotations

from pathlib import Path

import pytest

from brook.storage.checkpoint import EpochEntry, LeaderEpochCheckpointFile
from brook.storage.leader_epoch import UNDEFINED_EPOCH, LeaderEpochFileCache


def _cache(*entries: tuple[int, int]) -> LeaderEpochFileCache:
    cache = LeaderEpochFileCache()
    for epoch, offset in entries:
        cache.assign(epoch, offset)
    return cache


def test_empty_cache() -> None:
    cache = LeaderEpochFileCache()
    assert cache.latest_epoch == UNDEFINED_EPOCH
    assert cache.latest_entry is None and cache.earliest_entry is None
    assert cache.end_offset_for(0, 10) == (-1, -1)
    assert cache.epoch_for_offset(5) == UNDEFINED_EPOCH


def test_assign_is_monotonic_and_ignores_later_offsets_of_the_latest_epoch() -> None:
    cache = _cache((0, 0), (1, 10))
    assert not cache.assign(1, 15)  # later batch of the same epoch
    assert cache.assign(2, 20)
    assert cache.entries == (EpochEntry(0, 0), EpochEntry(1, 10), EpochEntry(2, 20))
    assert cache.latest_epoch == 2
    assert cache.previous_epoch() == 1


def test_assign_conflicting_entry_truncates_the_entries_it_contradicts() -> None:
    cache = _cache((0, 0), (1, 10), (2, 20))
    assert cache.assign(1, 5)  # Kafka: entries at or above epoch 1 / offset 5 are removed
    assert cache.entries == (EpochEntry(0, 0), EpochEntry(1, 5))
    assert cache.assign(3, 5)  # same start offset, higher epoch replaces it
    assert cache.entries == (EpochEntry(0, 0), EpochEntry(3, 5))


def test_assign_rejects_negative() -> None:
    with pytest.raises(ValueError):
        LeaderEpochFileCache().assign(-1, 0)


def test_end_offset_for_follows_kafka() -> None:
    cache = _cache((2, 10), (4, 30), (7, 50))
    assert cache.end_offset_for(UNDEFINED_EPOCH, 80) == (-1, -1)
    assert cache.end_offset_for(7, 80) == (7, 80)  # latest epoch: log end offset
    assert cache.end_offset_for(2, 80) == (2, 30)
    assert cache.end_offset_for(4, 80) == (4, 50)
    assert cache.end_offset_for(5, 80) == (4, 50)  # gap: previous epoch, next start
    assert cache.end_offset_for(1, 80) == (1, 10)  # older than all: requested epoch
    assert cache.end_offset_for(9, 80) == (-1, -1)  # newer than all


def test_epoch_for_offset() -> None:
    cache = _cache((2, 10), (4, 30))
    assert [cache.epoch_for_offset(o) for o in (5, 10, 29, 30, 99)] == [-1, 2, 2, 4, 4]


def test_truncate_from_end() -> None:
    cache = _cache((0, 0), (1, 10), (2, 20))
    cache.truncate_from_end(25)
    assert cache.latest_epoch == 2
    cache.truncate_from_end(10)
    assert cache.entries == (EpochEntry(0, 0),)


def test_truncate_from_start_keeps_the_epoch_covering_the_new_start() -> None:
    cache = _cache((0, 0), (1, 10), (2, 20))
    cache.truncate_from_start(15)
    assert cache.entries == (EpochEntry(1, 15), EpochEntry(2, 20))
    cache.truncate_from_start(20)
    assert list(cache.entries) == [EpochEntry(2, 20)]
    cache.truncate_from_start(5)
    assert list(cache.entries) == [EpochEntry(2, 20)]


def test_every_change_is_persisted(tmp_path: Path) -> None:
    checkpoint = LeaderEpochCheckpointFile.in_dir(tmp_path)
    cache = LeaderEpochFileCache(checkpoint)
    cache.assign(0, 0)
    cache.assign(3, 100)
    cache.assign(5, 200)
    assert LeaderEpochFileCache(checkpoint).entries == cache.entries
    cache.truncate_from_end(150)
    cache.truncate_from_start(50)
    reloaded = LeaderEpochFileCache(checkpoint)
    assert reloaded.entries == (EpochEntry(0, 50), EpochEntry(3, 100))
    cache.clear()
    assert LeaderEpochFileCache(checkpoint).entries == ()
