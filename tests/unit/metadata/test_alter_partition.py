"""AlterPartition on the controller over a real local metadata log: Kafka's validation of a
leader's ISR change, the record it commits, and the epochs the image replays."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from brook.metadata.controller.alter_partition import IsrChange, IsrChangeResult
from brook.metadata.controller.quorum_controller import QuorumController
from brook.metadata.controller.replication_control import CreatedTopic, TopicSpec
from brook.metadata.delta import MetadataDelta
from brook.metadata.image import PartitionRegistration
from brook.protocol.errors import ErrorCode
from brook.protocol.metadata_records.partition_change_record import PartitionChangeRecord
from tests.unit.metadata.test_controller import make


def _topic(tmp_path: Path) -> tuple[QuorumController, bytes]:
    c = make(tmp_path, brokers=3)
    [res] = asyncio.run(c.create_topics(
        [TopicSpec("t", assignments={0: [1, 2, 3]})], validate_only=False))
    assert isinstance(res, CreatedTopic)
    return c, res.topic_id


def _reg(c: QuorumController, topic_id: bytes) -> PartitionRegistration:
    return c.image.topics.by_id[topic_id].partitions[0]


def _epoch(c: QuorumController, broker: int) -> int:
    return c.image.cluster.brokers[broker].broker_epoch


def _alter(c: QuorumController, change: IsrChange, broker: int = 1,
           broker_epoch: int | None = None) -> IsrChangeResult:
    epoch = _epoch(c, broker) if broker_epoch is None else broker_epoch
    [result] = asyncio.run(c.alter_partition(broker, epoch, [change]))
    return result


def test_shrink_then_expand_commits_the_isr_and_bumps_only_the_partition_epoch(
    tmp_path: Path,
) -> None:
    c, tid = _topic(tmp_path)
    before = _reg(c, tid)
    assert (before.isr, before.leader_epoch, before.partition_epoch) == ((1, 2, 3), 0, 0)
    shrunk = _alter(c, IsrChange(tid, 0, 0, 0, ((1, _epoch(c, 1)), (2, -1))))
    assert shrunk.error == ErrorCode.NONE
    assert (shrunk.isr, shrunk.leader, shrunk.leader_epoch, shrunk.partition_epoch) == (
        (1, 2), 1, 0, 1)
    after = _reg(c, tid)
    assert (after.isr, after.leader_epoch, after.partition_epoch) == ((1, 2), 0, 1)
    grown = _alter(c, IsrChange(tid, 0, 0, 1, ((1, -1), (2, -1), (3, _epoch(c, 3)))))
    assert grown.error == ErrorCode.NONE and grown.partition_epoch == 2
    assert _reg(c, tid).isr == (1, 2, 3)
    # The same ISR again changes nothing and is answered with the current state.
    same = _alter(c, IsrChange(tid, 0, 0, 2, ((1, -1), (2, -1), (3, -1))))
    assert same.error == ErrorCode.NONE and same.partition_epoch == 2


@pytest.mark.parametrize(
    "leader_epoch, partition_epoch, isr, requester, code",
    [
        (0, 0, ((1, -1), (2, -1)), 2, ErrorCode.INVALID_REQUEST),  # not the leader
        (1, 0, ((1, -1), (2, -1)), 1, ErrorCode.NOT_CONTROLLER),  # controller behind
        (0, 5, ((1, -1), (2, -1)), 1, ErrorCode.NOT_CONTROLLER),
        (0, 0, ((2, -1), (3, -1)), 1, ErrorCode.INVALID_REQUEST),  # leader left out
        (0, 0, ((1, -1), (4, -1)), 1, ErrorCode.INVALID_REQUEST),  # not a replica
        (0, 0, ((1, -1), (1, -1)), 1, ErrorCode.INVALID_REQUEST),  # duplicate
        (0, 0, ((1, -1), (2, 99)), 1, ErrorCode.INELIGIBLE_REPLICA),  # wrong broker epoch
    ],
)
def test_invalid_changes_get_kafkas_errors_and_commit_nothing(
    tmp_path: Path, leader_epoch: int, partition_epoch: int,
    isr: tuple[tuple[int, int], ...], requester: int, code: ErrorCode,
) -> None:
    c, tid = _topic(tmp_path)
    offset = c.image.offset
    result = _alter(c, IsrChange(tid, 0, leader_epoch, partition_epoch, isr), requester)
    assert result.error == code
    assert c.image.offset == offset and _reg(c, tid).isr == (1, 2, 3)


def test_older_epochs_are_fenced_or_stale(tmp_path: Path) -> None:
    c, tid = _topic(tmp_path)
    assert _alter(c, IsrChange(tid, 0, 0, 0, ((1, -1), (2, -1)))).error == ErrorCode.NONE
    stale = _alter(c, IsrChange(tid, 0, 0, 0, ((1, -1),)))
    assert stale.error == ErrorCode.INVALID_UPDATE_VERSION
    asyncio.run(c._commit([PartitionChangeRecord(partition_id=0, topic_id=tid, leader=2)]))
    assert (_reg(c, tid).leader, _reg(c, tid).leader_epoch) == (2, 1)
    fenced = _alter(c, IsrChange(tid, 0, 0, 2, ((1, -1), (2, -1))))
    assert fenced.error == ErrorCode.FENCED_LEADER_EPOCH


def test_unknown_topic_partition_and_stale_broker_epoch(tmp_path: Path) -> None:
    c, tid = _topic(tmp_path)
    assert _alter(c, IsrChange(b"\x09" * 16, 0, 0, 0, ((1, -1),))).error == (
        ErrorCode.UNKNOWN_TOPIC_ID)
    assert _alter(c, IsrChange(tid, 7, 0, 0, ((1, -1),))).error == (
        ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
    stale = _alter(c, IsrChange(tid, 0, 0, 0, ((1, -1),)), broker_epoch=_epoch(c, 1) + 5)
    assert stale.error == ErrorCode.STALE_BROKER_EPOCH
    assert _reg(c, tid).isr == (1, 2, 3)


def test_a_fenced_broker_cannot_join_the_isr(tmp_path: Path) -> None:
    c, tid = _topic(tmp_path)
    assert _alter(c, IsrChange(tid, 0, 0, 0, ((1, -1), (2, -1)))).error == ErrorCode.NONE
    asyncio.run(c.fence_broker(3))
    result = _alter(c, IsrChange(tid, 0, 0, 1, ((1, -1), (2, -1), (3, -1))))
    assert result.error == ErrorCode.INELIGIBLE_REPLICA


def test_replay_bumps_the_leader_epoch_only_on_a_leader_change(tmp_path: Path) -> None:
    c, tid = _topic(tmp_path)
    delta = MetadataDelta(c.image)
    delta.replay(PartitionChangeRecord(partition_id=0, topic_id=tid, isr=[1, 2]), 100)
    delta.replay(PartitionChangeRecord(partition_id=0, topic_id=tid, leader=2), 101)
    delta.replay(PartitionChangeRecord(partition_id=0, topic_id=tid, isr=[2]), 102)
    reg = delta.apply().topics.by_id[tid].partitions[0]
    assert (reg.leader, reg.isr, reg.leader_epoch, reg.partition_epoch) == (2, (2,), 1, 3)


def test_a_request_naming_no_broker_epoch_is_stale() -> None:
    """-1 is no proof of being the registered leader: refused like a wrong epoch."""
    from brook.metadata.controller.alter_partition import check_broker_epoch
    from tests.unit.metadata.test_partition_change import cluster
    image = cluster(([1, 2], [1, 2], 1))
    epoch = image.cluster.brokers[1].broker_epoch
    assert check_broker_epoch(image, 1, epoch) == ErrorCode.NONE
    assert check_broker_epoch(image, 1, -1) == ErrorCode.STALE_BROKER_EPOCH
