"""A former leader that assigned its epoch at its log end and appended nothing under it keeps
that epoch entry when it follows again, unless truncation clears it: its fetches then name a
last fetched epoch the new leader never had, every answer is a divergence at the log end, and
it never rejoins the ISR. Found by the replication simulation (seed 19); Kafka's
``UnifiedLog.truncateTo`` clears such an entry even when nothing is removed."""

from __future__ import annotations

from pathlib import Path

from brook.replication.follower import FollowedPartition, truncate, truncation_offset
from brook.replication.partition import Partition, TopicPartition
from brook.storage.log import Log
from brook.storage.log_config import LogConfig
from tests.support.storage_batches import make_batch


def test_a_divergence_at_the_log_end_clears_an_epoch_that_wrote_nothing(tmp_path: Path) -> None:
    log = Log.open(tmp_path / "t-0", LogConfig.default(), recovery_point=0, log_start_offset=0,
                   clean_shutdown=True, now_ms=0)
    log.append_as_leader(memoryview(make_batch(3)), 1, 0)
    log.leader_epoch_cache.assign(2, 3)  # led epoch 2 from offset 3, appended nothing
    part = Partition(TopicPartition("t", 0), b"\x01" * 16, log, node_id=2, leader=1,
                     leader_epoch=7, replicas=(1, 2), isr=(1,))
    state = FollowedPartition.start(part, 7)
    assert state.last_fetched_epoch == 2
    # The leader (epochs 1, then 7 from offset 3) answers epoch 2 with epoch 1 ending at 3.
    offset, done = truncation_offset(state, 1, 3)
    assert (offset, done) == (3, True)
    truncate(state, offset)
    assert log.log_end_offset == 3
    assert state.last_fetched_epoch == 1
    assert log.leader_epoch_cache.end_offset_for(1, 3) == (1, 3)
