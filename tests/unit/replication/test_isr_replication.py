"""The leader's replication state machine: the high watermark from the ISR, acks=all waiting
in the partition's purgatory, and the ISR shrink/expand decisions AlterPartition carries.

Real logs on disk; followers are played by calling ``update_follower_fetch`` as the fetch
handler does for a follower's Fetch."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from brook.replication.delayed_produce import (
    NotEnoughReplicasAfterAppendError,
    NotLeaderOrFollowerError,
)
from brook.replication.partition import NotEnoughReplicasError, Partition, TopicPartition
from brook.storage.log import Log
from brook.storage.log_config import LogConfig
from tests.support.storage_batches import make_batch

LAG_MS = 100


def _partition(tmp_path: Path, replicas: tuple[int, ...] = (1, 2, 3), min_isr: int = 1,
               isr: tuple[int, ...] | None = None, now_ms: int = 1_000) -> Partition:
    config = LogConfig.from_props({"min.insync.replicas": str(min_isr)})
    log = Log.open(tmp_path / "t-0", config, recovery_point=0, log_start_offset=0,
                   clean_shutdown=True, now_ms=0)
    isr = replicas if isr is None else isr
    part = Partition(TopicPartition("t", 0), b"\x01" * 16, log, node_id=1, leader=1,
                     leader_epoch=0, replicas=replicas, isr=isr)
    part.update_registration(1, 0, replicas, isr, 0, now_ms)
    return part


def _append(part: Partition, count: int) -> int:
    """Append ``count`` records as the leader; return the offset after them."""
    info = part.log.append_as_leader(memoryview(make_batch(count)), part.leader_epoch, 0)
    part.advance_high_watermark()
    return info.last_offset + 1


def _fetch(part: Partition, replica: int, offset: int, now_ms: int = 1_000) -> None:
    assert part.update_follower_fetch(replica, -1, offset, now_ms, part.log.log_end_offset)


def _run(body: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(body())


def test_single_replica_high_watermark_moves_with_the_append(tmp_path: Path) -> None:
    part = _partition(tmp_path, replicas=(1,))
    assert _append(part, 3) == 3
    assert part.high_watermark == 3
    assert part.wait_for_high_watermark(3) is None


def test_high_watermark_is_the_smallest_log_end_over_the_isr(tmp_path: Path) -> None:
    part = _partition(tmp_path)
    end = _append(part, 5)
    assert part.high_watermark == 0  # followers have not fetched: nothing is committed
    _fetch(part, 2, end)
    assert part.high_watermark == 0
    _fetch(part, 3, 3)
    assert part.high_watermark == 3
    _fetch(part, 3, end)
    assert part.high_watermark == end
    _fetch(part, 3, 2)  # a follower that truncated does not move it back
    assert part.high_watermark == end


def test_a_follower_outside_the_isr_does_not_hold_the_high_watermark(tmp_path: Path) -> None:
    part = _partition(tmp_path, isr=(1, 2))
    end = _append(part, 4)
    _fetch(part, 2, end)
    assert part.high_watermark == end
    assert not part.update_follower_fetch(9, -1, 0, 1_000, end)  # not a replica


def test_acks_all_waits_until_every_isr_member_fetched_past_the_records(
    tmp_path: Path,
) -> None:
    async def body() -> None:
        part = _partition(tmp_path, replicas=(1, 2))
        end = _append(part, 2)
        fut = part.wait_for_high_watermark(end)
        assert fut is not None
        _fetch(part, 2, end - 1)
        await asyncio.sleep(0)
        assert not fut.done()
        _fetch(part, 2, end)
        await asyncio.wait_for(fut, 1)
        assert part.high_watermark == end

    _run(body)


def test_isr_below_min_insync_refuses_acks_all_before_the_append(tmp_path: Path) -> None:
    part = _partition(tmp_path, replicas=(1, 2), min_isr=2, isr=(1,))
    with pytest.raises(NotEnoughReplicasError):
        part.check_enough_replicas(-1)
    part.check_enough_replicas(1)  # acks=1 promises the leader's copy only
    _partition(tmp_path / "full", replicas=(1, 2), min_isr=2).check_enough_replicas(-1)


def test_isr_shrinking_below_min_insync_while_waiting_answers_after_append(
    tmp_path: Path,
) -> None:
    async def body() -> None:
        part = _partition(tmp_path, replicas=(1, 2), min_isr=2)
        end = _append(part, 3)
        fut = part.wait_for_high_watermark(end)
        assert fut is not None
        part.propose_isr((1,))
        assert part.maximal_isr == (1, 2)  # a pending shrink still counts the follower
        await asyncio.sleep(0)
        assert not fut.done()
        assert part.isr_change_committed((1,), 0, (1,), 1)
        assert part.high_watermark == end
        with pytest.raises(NotEnoughReplicasAfterAppendError):
            await asyncio.wait_for(fut, 1)

    _run(body)


def test_leadership_lost_while_waiting_answers_not_leader(tmp_path: Path) -> None:
    async def body() -> None:
        part = _partition(tmp_path, replicas=(1, 2))
        end = _append(part, 1)
        fut = part.wait_for_high_watermark(end)
        assert fut is not None
        part.update_registration(2, 1, (1, 2), (1, 2), 1, 2_000)
        with pytest.raises(NotLeaderOrFollowerError):
            await asyncio.wait_for(fut, 1)

    _run(body)


def test_followers_not_caught_up_within_the_lag_time_are_shrunk(tmp_path: Path) -> None:
    part = _partition(tmp_path, now_ms=1_000)
    end = _append(part, 2)
    # A new leader gives ISR members a full lag period.
    assert part.isr_to_shrink(1_000 + LAG_MS, LAG_MS) is None
    _fetch(part, 2, end, now_ms=1_090)  # caught up at 1090
    _fetch(part, 3, 0, now_ms=1_090)  # behind since it became leader
    assert part.isr_to_shrink(1_150, LAG_MS) == (1, 2)
    # Caught up to the end the leader had at its previous fetch: caught up *then*.
    _append(part, 1)
    _fetch(part, 2, end, now_ms=1_180)
    assert part.isr_to_shrink(1_185, LAG_MS) == (1, 2)
    assert part.isr_to_shrink(1_200, LAG_MS) == (1,)
    part.propose_isr((1,))
    assert part.isr_to_shrink(1_300, LAG_MS) is None  # one change in flight at a time


def test_a_follower_joins_once_at_the_high_watermark_and_this_terms_start(
    tmp_path: Path,
) -> None:
    part = _partition(tmp_path, replicas=(1, 2), isr=(1,))
    end = _append(part, 4)
    assert part.high_watermark == end
    _fetch(part, 2, 2)
    assert part.isr_to_expand(2) is None  # below the high watermark
    _fetch(part, 2, end)
    assert part.isr_to_expand(2) == (1, 2)
    part.propose_isr((1, 2))
    assert part.maximal_isr == (1, 2)
    assert part.isr_to_expand(2) is None
    # While the expansion is in flight the high watermark waits for the joining follower.
    later = _append(part, 2)
    assert part.high_watermark == end
    _fetch(part, 2, later)
    assert part.high_watermark == later
    assert part.isr_change_committed((1, 2), 0, (1, 2), 1)
    assert part.isr == (1, 2) and part.pending_isr is None and part.partition_epoch == 1


def test_a_follower_below_the_leaders_first_offset_of_its_term_does_not_join(
    tmp_path: Path,
) -> None:
    part = _partition(tmp_path, replicas=(1, 2), isr=(1,))
    _append(part, 4)
    part.update_registration(1, 1, (1, 2), (1,), 1, 1_000)  # a new term starts at 4
    assert part.leader_epoch_start_offset == 4
    part.high_watermark = 2  # as a new leader may find it
    _fetch(part, 2, 3)
    assert part.isr_to_expand(2) is None
    _fetch(part, 2, 4)
    assert part.isr_to_expand(2) == (1, 2)


def test_stale_or_refused_isr_answers(tmp_path: Path) -> None:
    part = _partition(tmp_path, replicas=(1, 2, 3), isr=(1, 2, 3))
    part.propose_isr((1, 2))
    assert not part.isr_change_committed((1, 2), 5, (1, 2), 1)  # another term's answer
    assert not part.isr_change_committed((1,), 0, (1,), 1)  # not the pending proposal
    part.isr_change_failed((1, 2))
    assert part.pending_isr is None and part.maximal_isr == (1, 2, 3)
    part.propose_isr((1, 2))
    assert part.isr_change_committed((1, 2), 0, (1, 2), 3)
    # The image catching up with an older partition epoch does not undo the answer.
    part.update_registration(1, 0, (1, 2, 3), (1, 2, 3), 2, 1_000)
    assert part.isr == (1, 2) and part.partition_epoch == 3
    part.update_registration(1, 0, (1, 2, 3), (1, 3), 4, 1_000)
    assert part.isr == (1, 3) and part.partition_epoch == 4


def test_an_image_of_the_same_partition_epoch_keeps_a_proposal_in_flight(
    tmp_path: Path,
) -> None:
    part = _partition(tmp_path, replicas=(1, 2), isr=(1,))
    end = _append(part, 2)
    _fetch(part, 2, end)
    part.propose_isr((1, 2))
    # The image replaying what this leader already holds must not drop the joining follower
    # from the high watermark's count while its addition is in flight.
    part.update_registration(1, 0, (1, 2), (1,), 0, 2_000)
    assert part.pending_isr == (1, 2) and part.maximal_isr == (1, 2)
    _append(part, 1)
    assert part.high_watermark == end


def test_timed_out_waiters_do_not_pile_up_while_the_high_watermark_is_stuck(
        tmp_path: Path) -> None:
    """A follower that never fetches keeps the high watermark still; produce retries whose
    waits timed out (cancelled) must not grow the partition's purgatory without bound."""
    part = _partition(tmp_path, min_isr=1)

    async def body() -> None:
        for _ in range(5_000):
            end = _append(part, 1)
            fut = part.wait_for_high_watermark(end)
            assert fut is not None
            fut.cancel()  # the produce request's timeout
        assert len(part.delayed_produces.heap) <= 2 * 64 + 1

    _run(body)
