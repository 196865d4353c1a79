"""Partition reassignment as the controller records it (KIP-455): adding and removing
replicas, completion once the targets are in the ISR, cancellation, listing; and the records
surviving a snapshot."""

from __future__ import annotations

from brook.metadata.controller.reassignment import (
    list_reassignments,
    plan_alter_reassignments,
    plan_complete_reassignments,
)
from brook.metadata.image import EMPTY_IMAGE
from brook.metadata.snapshot import image_records
from brook.protocol.errors import ErrorCode
from brook.protocol.metadata_records.partition_change_record import PartitionChangeRecord
from tests.unit.metadata.test_partition_change import T, cluster, part, replay


def test_a_move_adds_then_completes_when_the_new_replicas_join_the_isr() -> None:
    image = cluster(([1, 2], [1, 2], 1))
    results, records = plan_alter_reassignments(image, [("t", 0, [2, 3])])
    assert [r.error for r in results] == [ErrorCode.NONE]
    image = replay(image, records)
    p = part(image)
    assert (p.replicas, p.adding_replicas, p.removing_replicas, p.leader) == (
        (2, 3, 1), (3,), (1,), 1)
    assert plan_complete_reassignments(image) == []  # 3 has not caught up
    [ongoing] = list_reassignments(image, None)
    assert (ongoing.topic, ongoing.partition, ongoing.adding, ongoing.removing) == (
        "t", 0, (3,), (1,))
    # The leader adds 3 to the ISR (AlterPartition); the move completes, 1 leaves and a new
    # leader comes from the target.
    image = replay(image, [PartitionChangeRecord(partition_id=0, topic_id=T, isr=[1, 2, 3])])
    image = replay(image, plan_complete_reassignments(image))
    p = part(image)
    assert (p.replicas, p.isr, p.leader, p.adding_replicas, p.removing_replicas) == (
        (2, 3), (2, 3), 2, (), ())
    assert list_reassignments(image, None) == []


def test_a_move_within_the_isr_completes_at_once_and_keeps_its_leader() -> None:
    image = cluster(([1, 2, 3], [1, 2, 3], 2))
    _, records = plan_alter_reassignments(image, [("t", 0, [3, 2])])
    image = replay(image, records)
    image = replay(image, plan_complete_reassignments(image))
    p = part(image)
    assert (p.replicas, p.isr, p.leader, p.leader_epoch) == ((3, 2), (2, 3), 2, 0)


def test_cancel_reverts_and_invalid_targets_are_refused_per_partition() -> None:
    image = cluster(([1, 2], [1, 2], 1), ([1, 2], [1, 2], 1))
    _, records = plan_alter_reassignments(image, [("t", 0, [1, 3])])
    image = replay(image, records)
    results, records = plan_alter_reassignments(image, [
        ("t", 0, None), ("t", 1, None), ("t", 1, []), ("t", 1, [1, 1]), ("t", 1, [1, 9]),
        ("t", 7, [1]), ("x", 0, [1])])
    assert [r.error for r in results] == [
        ErrorCode.NONE, ErrorCode.NO_REASSIGNMENT_IN_PROGRESS,
        ErrorCode.INVALID_REPLICA_ASSIGNMENT, ErrorCode.INVALID_REPLICA_ASSIGNMENT,
        ErrorCode.INVALID_REPLICA_ASSIGNMENT, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
        ErrorCode.UNKNOWN_TOPIC_OR_PARTITION]
    p = part(replay(image, records))
    assert (p.replicas, p.isr, p.adding_replicas, p.removing_replicas) == (
        (1, 2), (1, 2), (), ())


def test_an_ongoing_reassignment_survives_a_snapshot() -> None:
    image = cluster(([1, 2], [1, 2], 1))
    image = replay(image, plan_alter_reassignments(image, [("t", 0, [2, 3])])[1])
    again = replay(EMPTY_IMAGE, image_records(image))
    assert part(again) == part(image)


def test_changing_a_move_midway_drops_the_abandoned_replica_from_the_isr() -> None:
    """1,2 -> 2,3; 3 catches up and joins the ISR; the target becomes 1,2 again: 3 is no
    longer a replica and must not stay in the ISR (acks=all would wait for it)."""
    image = cluster(([1, 2], [1, 2], 1))
    image = replay(image, plan_alter_reassignments(image, [("t", 0, [2, 3])])[1])
    image = replay(image, [PartitionChangeRecord(partition_id=0, topic_id=T, isr=[1, 2, 3])])
    results, records = plan_alter_reassignments(image, [("t", 0, [1, 2])])
    assert [r.error for r in results] == [ErrorCode.NONE]
    p = part(replay(image, records))
    assert set(p.isr) <= set(p.replicas) and 3 not in p.isr and p.leader in p.isr


def test_a_cancel_that_would_leave_no_in_sync_replica_is_refused() -> None:
    """The original replica 1 left the ISR while the added 3 caught up: reverting to (1,)
    would drop the only in-sync copy, so the cancel is refused and nothing changes."""
    image = cluster(([1], [1], 1))
    image = replay(image, plan_alter_reassignments(image, [("t", 0, [3])])[1])
    image = replay(image, [PartitionChangeRecord(partition_id=0, topic_id=T, isr=[3], leader=3)])
    results, records = plan_alter_reassignments(image, [("t", 0, None)])
    assert [r.error for r in results] == [ErrorCode.INVALID_REPLICA_ASSIGNMENT]
    assert records == []
