"""A broker restarted as the leader of a replicated partition: its log holds records the ISR
may never have copied (appended while its followers were cut off), so they are not committed
until the followers fetch past them. Found by the replication simulation (seed 11): a
restarted leader answered consumers up to its log end, and the records they read were
replaced once a follower took over."""

from __future__ import annotations

from pathlib import Path

from brook.replication.partition import Partition, TopicPartition
from brook.storage.log import Log
from brook.storage.log_config import LogConfig
from tests.support.storage_batches import make_batch


def _reopened_leader(tmp_path: Path, isr: tuple[int, ...]) -> Partition:
    """A log with five records written by an earlier incarnation, led again after a kill."""
    config = LogConfig.from_props({"min.insync.replicas": "2"})
    first = Log.open(tmp_path / "t-0", config, recovery_point=0, log_start_offset=0,
                     clean_shutdown=True, now_ms=0)
    first.append_as_leader(memoryview(make_batch(5)), 0, 0)
    first.close_handlers()  # killed: nothing written on the way out
    log = Log.open(tmp_path / "t-0", config, recovery_point=0, log_start_offset=0,
                   clean_shutdown=False, now_ms=0)
    assert log.log_end_offset == 5
    part = Partition(TopicPartition("t", 0), b"\x01" * 16, log, node_id=1, leader=1,
                     leader_epoch=0, replicas=(1, 2, 3), isr=isr)
    part.update_registration(1, 0, (1, 2, 3), isr, 1, 1_000)
    return part


def test_a_restarted_leader_commits_nothing_its_isr_has_not_fetched(tmp_path: Path) -> None:
    part = _reopened_leader(tmp_path, (1, 2))
    assert part.high_watermark == 0
    assert part.update_follower_fetch(2, -1, 3, 1_000, part.log.log_end_offset)
    assert part.high_watermark == 3
    assert part.update_follower_fetch(2, -1, 5, 1_000, part.log.log_end_offset)
    assert part.high_watermark == 5


def test_a_restarted_sole_isr_member_commits_its_whole_log(tmp_path: Path) -> None:
    assert _reopened_leader(tmp_path, (1,)).high_watermark == 5
