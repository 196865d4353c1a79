"""acks=all counts the copies that hold the data, not the replicas the metadata assigns: until
followers replicate, a partition with replication factor 2 and min.insync.replicas=2 refuses
acks=all (NOT_ENOUGH_REPLICAS) instead of acknowledging a record only its leader holds."""

from __future__ import annotations

from pathlib import Path

import pytest

from brook.replication.partition import NotEnoughReplicasError, Partition, TopicPartition
from brook.storage.log import Log
from brook.storage.log_config import LogConfig


def _partition(tmp_path: Path, min_isr: int) -> Partition:
    config = LogConfig.from_props({"min.insync.replicas": str(min_isr)})
    log = Log.open(tmp_path / "t-0", config, recovery_point=0, log_start_offset=0,
                   clean_shutdown=True, now_ms=0)
    return Partition(TopicPartition("t", 0), b"\x01" * 16, log, node_id=1, leader=1,
                     leader_epoch=0, replicas=(1, 2), isr=(1, 2))


def test_acks_all_with_min_insync_two_is_refused_while_only_the_leader_holds_data(
    tmp_path: Path,
) -> None:
    part = _partition(tmp_path, 2)
    with pytest.raises(NotEnoughReplicasError):
        part.check_enough_replicas(-1)
    part.check_enough_replicas(1)  # acks=1 promises the leader's copy only


def test_acks_all_with_min_insync_one_is_accepted(tmp_path: Path) -> None:
    _partition(tmp_path / "one", 1).check_enough_replicas(-1)
