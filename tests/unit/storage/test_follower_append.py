"""Log.append_as_follower: the leader's batches stored as they are, with their epochs and
producers, refused when they overlap the log, and appended again after a truncation."""

from __future__ import annotations

from pathlib import Path

import pytest

from brook.records.batch import iter_batches
from brook.records.errors import CorruptRecordError
from brook.storage.errors import UnexpectedAppendOffsetError
from brook.storage.follower_records import validate_follower_records
from brook.storage.log import Log
from brook.storage.log_config import LogConfig
from tests.support.storage_batches import config, make_batch


def open_log(directory: Path, cfg: LogConfig | None = None, *, clean: bool = True,
             recovery_point: int = 0) -> Log:
    return Log.open(directory, cfg or config(), recovery_point=recovery_point,
                    log_start_offset=0, clean_shutdown=clean, now_ms=0)


def leader_bytes(leader: Log) -> bytes:
    """Every byte of the leader's segments, in offset order."""
    return b"".join(s.log.path.read_bytes() for s in leader.segments)


def fetch_all(leader: Log, offset: int, max_bytes: int = 1 << 20) -> memoryview:
    info = leader.read(offset, max_bytes, leader.log_end_offset, True)
    return memoryview(b"".join(bytes(c) for c in info.chunks))


def test_offsets_epochs_and_bytes_are_the_leaders(tmp_path: Path) -> None:
    leader = open_log(tmp_path / "leader" / "t-0")
    follower = open_log(tmp_path / "follower" / "t-0")
    leader.append_as_leader(memoryview(make_batch(3)), 0, 1_000)
    leader.append_as_leader(memoryview(make_batch(2)), 0, 1_001)
    leader.append_as_leader(memoryview(make_batch(4)), 3, 1_002)
    info = follower.append_as_follower(fetch_all(leader, 0), 2_000)
    assert (info.first_offset, info.last_offset, info.num_messages) == (0, 8, 9)
    assert follower.log_end_offset == leader.log_end_offset == 9
    follower.flush()
    leader.flush()
    assert leader_bytes(follower) == leader_bytes(leader)
    assert follower.leader_epoch_cache.entries == leader.leader_epoch_cache.entries
    assert [(e.epoch, e.start_offset) for e in follower.leader_epoch_cache.entries] == [(0, 0), (3, 5)]
    assert follower.leader_epoch_cache.end_offset_for(0, follower.log_end_offset) == (0, 5)


def test_the_fetched_buffer_is_not_patched(tmp_path: Path) -> None:
    leader = open_log(tmp_path / "leader" / "t-0")
    leader.append_as_leader(memoryview(make_batch(2)), 7, 1_000)
    fetched = bytes(fetch_all(leader, 0))
    follower = open_log(tmp_path / "follower" / "t-0")
    follower.append_as_follower(memoryview(fetched), 2_000)  # read-only: a patch would raise
    follower.flush()
    assert follower.segments[0].log.path.read_bytes() == fetched


def test_producer_state_survives_a_failover(tmp_path: Path) -> None:
    """The follower learns the producers' sequences, so once it leads a retried batch is a
    duplicate and the next sequence is accepted."""
    leader = open_log(tmp_path / "leader" / "t-0")
    follower = open_log(tmp_path / "follower" / "t-0")
    batch = make_batch(3, producer_id=42, producer_epoch=1, base_sequence=0)
    leader.append_as_leader(memoryview(bytearray(batch)), 0, 1_000)
    follower.append_as_follower(fetch_all(leader, 0), 2_000)
    entry = follower.producer_state.last_entry(42)
    assert entry is not None and entry.producer_epoch == 1 and entry.last_seq == 2
    retried = follower.append_as_leader(memoryview(bytearray(batch)), 1, 3_000)
    assert retried.duplicate and (retried.first_offset, retried.last_offset) == (0, 2)
    nxt = follower.append_as_leader(
        memoryview(make_batch(1, producer_id=42, producer_epoch=1, base_sequence=3)), 1, 3_000)
    assert not nxt.duplicate and nxt.first_offset == 3


def test_an_overlapping_append_is_refused_and_writes_nothing(tmp_path: Path) -> None:
    leader = open_log(tmp_path / "leader" / "t-0")
    leader.append_as_leader(memoryview(make_batch(3)), 0, 1_000)
    follower = open_log(tmp_path / "follower" / "t-0")
    follower.append_as_follower(fetch_all(leader, 0), 2_000)
    with pytest.raises(UnexpectedAppendOffsetError) as err:
        follower.append_as_follower(fetch_all(leader, 0), 2_000)
    assert (err.value.first_offset, err.value.last_offset) == (0, 2)
    assert follower.log_end_offset == 3 and follower.size_bytes == leader.size_bytes


def test_a_forward_gap_is_a_compacted_leaders_and_is_kept(tmp_path: Path) -> None:
    follower = open_log(tmp_path / "t-0")
    batch = make_batch(2, base_offset=10, leader_epoch=2)
    follower.append_as_follower(memoryview(bytes(batch)), 2_000)
    assert follower.log_end_offset == 12
    assert follower.read(0, 1 << 20, 12, True).chunks  # offsets below 10 read from batch 10


def test_corrupt_and_out_of_order_batches_are_refused(tmp_path: Path) -> None:
    follower = open_log(tmp_path / "t-0")
    bad = make_batch(2, leader_epoch=0)
    bad[-1] ^= 0xFF
    with pytest.raises(CorruptRecordError):
        follower.append_as_follower(memoryview(bytes(bad)), 2_000)
    backwards = make_batch(2, base_offset=5, leader_epoch=0) + make_batch(2, base_offset=3, leader_epoch=0)
    with pytest.raises(CorruptRecordError, match="out of order"):
        follower.append_as_follower(memoryview(bytes(backwards)), 2_000)
    assert follower.log_end_offset == 0 and follower.size_bytes == 0


def test_a_trailing_partial_batch_is_left_for_the_next_fetch(tmp_path: Path) -> None:
    data = make_batch(2, leader_epoch=0) + make_batch(2, base_offset=2, leader_epoch=0)
    follower = open_log(tmp_path / "t-0")
    info = follower.append_as_follower(memoryview(bytes(data[:-5])), 2_000)
    assert follower.log_end_offset == 2 and info.valid_bytes == len(make_batch(2))


def test_a_fetch_larger_than_a_segment_rolls_between_batches(tmp_path: Path) -> None:
    cfg = config(segment_bytes=400)
    leader = open_log(tmp_path / "leader" / "t-0", cfg)
    for _ in range(12):
        leader.append_as_leader(memoryview(make_batch(2, value_size=50)), 0, 1_000)
    follower = open_log(tmp_path / "follower" / "t-0", cfg)
    follower.append_as_follower(fetch_all(leader, 0), 2_000)
    assert follower.num_segments > 1
    assert all(s.size_bytes <= 400 for s in follower.segments)
    assert follower.log_end_offset == 24
    offsets = [h.base_offset for s in follower.segments for _, h in iter_batches(s.log.path.read_bytes())]
    assert offsets == list(range(0, 24, 2))


def test_truncation_then_append_of_the_new_leaders_tail(tmp_path: Path) -> None:
    """A follower holding a tail its new leader never had truncates to the divergence point
    found through the epoch cache, then takes the new leader's batches."""
    old = open_log(tmp_path / "old" / "t-0")
    new = open_log(tmp_path / "new" / "t-0")
    for log in (old, new):
        log.append_as_leader(memoryview(make_batch(3)), 1, 1_000)
    old.append_as_leader(memoryview(make_batch(2, producer_id=7, producer_epoch=0,
                                                base_sequence=0)), 1, 1_001)  # never replicated
    new.append_as_leader(memoryview(make_batch(4)), 2, 1_002)  # the new leader's epoch
    epoch, end = new.leader_epoch_cache.end_offset_for(1, new.log_end_offset)
    assert (epoch, end) == (1, 3)
    _, own_end = old.leader_epoch_cache.end_offset_for(epoch, old.log_end_offset)
    target = min(end, own_end)
    assert old.truncate_to(target)
    assert old.log_end_offset == 3 and old.producer_state.last_entry(7) is None
    old.append_as_follower(fetch_all(new, 3), 2_000)
    old.flush()
    new.flush()
    assert leader_bytes(old) == leader_bytes(new)
    assert old.leader_epoch_cache.entries == new.leader_epoch_cache.entries


def test_epochs_and_producers_of_follower_appends_survive_an_unclean_restart(tmp_path: Path) -> None:
    leader = open_log(tmp_path / "leader" / "t-0")
    leader.append_as_leader(memoryview(make_batch(2, producer_id=9, producer_epoch=0,
                                                  base_sequence=0)), 4, 1_000)
    follower = open_log(tmp_path / "follower" / "t-0")
    follower.append_as_follower(fetch_all(leader, 0), 2_000)
    follower.local_log.flush(None)  # the data, but not the epoch checkpoint nor a snapshot
    follower.close_handlers()
    reopened = open_log(tmp_path / "follower" / "t-0", clean=False)
    assert reopened.log_end_offset == 2
    assert reopened.leader_epoch_cache.latest_epoch == 4
    entry = reopened.producer_state.last_entry(9)
    assert entry is not None and entry.last_seq == 1


def test_validation_reads_only_the_buffer() -> None:
    data = make_batch(2, leader_epoch=0) + make_batch(1, base_offset=2, leader_epoch=0)
    batches = validate_follower_records(memoryview(bytes(data)))
    assert [h.base_offset for _, h in batches] == [0, 2] and batches.valid_bytes == len(data)
    assert len(batches.groups(1 << 20)) == 1
    assert [g.first_offset for g in batches.groups(1)] == [0, 2]


def test_truncating_at_the_end_drops_an_epoch_that_wrote_nothing(tmp_path: Path) -> None:
    """A replica that became leader (its epoch entry at the log end) and lost leadership
    before writing: as a follower, the entry must go, or it would be sent as the last fetched
    epoch and answered as diverging forever."""
    log = open_log(tmp_path / "t-0")
    log.append_as_leader(memoryview(make_batch(3)), 1, 1_000)
    log.leader_epoch_cache.assign(2, log.log_end_offset)
    assert not log.truncate_to(log.log_end_offset)
    assert log.leader_epoch_cache.latest_epoch == 1 and log.log_end_offset == 3
    reopened = open_log(tmp_path / "t-0")
    assert reopened.leader_epoch_cache.latest_epoch == 1


def test_truncation_at_the_log_end_drops_an_epoch_that_wrote_nothing(tmp_path: Path) -> None:
    """A broker that became leader of epoch 2 (its start entry assigned at the log end) and
    lost leadership before appending anything holds an epoch the new leader never had. The
    divergence point is its log end: truncating there removes nothing from the log but must
    drop that entry, or its next fetch names epoch 2 as its last, the leader answers the same
    divergence again, and the follower never appends (Kafka's ``truncateTo`` does the same)."""
    old = open_log(tmp_path / "old" / "t-0")
    new = open_log(tmp_path / "new" / "t-0")
    for log in (old, new):
        log.append_as_leader(memoryview(make_batch(3)), 1, 1_000)
    old.leader_epoch_cache.assign(2, old.log_end_offset)  # led epoch 2, appended nothing
    new.append_as_leader(memoryview(make_batch(4)), 3, 1_002)  # epoch 3 led by the other
    assert old.leader_epoch_cache.latest_epoch == 2
    epoch, end = new.leader_epoch_cache.end_offset_for(2, new.log_end_offset)
    assert (epoch, end) == (1, 3)
    assert not old.truncate_to(end)  # no offsets removed...
    assert old.log_end_offset == 3
    assert old.leader_epoch_cache.latest_epoch == 1  # ...but the empty epoch is gone
    assert new.leader_epoch_cache.end_offset_for(1, new.log_end_offset) == (1, 3)
    old.append_as_follower(fetch_all(new, 3), 2_000)
    assert old.leader_epoch_cache.entries == new.leader_epoch_cache.entries
