"""Leader and ISR decisions of the controller (Kafka's PartitionChangeBuilder semantics), over
images replayed from real metadata records, and through a controller on a real local log."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from brook.env import SYSTEM_CLOCK, Rng
from brook.metadata.controller.partition_change import (
    Election,
    plan_broker_fenced,
    plan_broker_unfenced,
    plan_controlled_shutdown,
    plan_elections,
    plan_leader_rebalance,
)
from brook.metadata.controller.quorum_controller import BrokerEndpointSpec, QuorumController
from brook.metadata.controller.replication_control import CreatedTopic, TopicSpec
from brook.metadata.delta import MetadataDelta
from brook.metadata.image import EMPTY_IMAGE, MetadataImage, PartitionRegistration
from brook.protocol.errors import ErrorCode
from brook.protocol.metadata_records.broker_registration_change_record import (
    BrokerRegistrationChangeRecord,
)
from brook.protocol.metadata_records.config_record import ConfigRecord
from brook.protocol.metadata_records.partition_change_record import PartitionChangeRecord
from brook.protocol.metadata_records.partition_record import PartitionRecord
from brook.protocol.metadata_records.register_broker_record import RegisterBrokerRecord
from brook.protocol.metadata_records.topic_record import TopicRecord
from brook.raft.local import LocalRaftClient

T = b"\x01" * 16


def replay(image: MetadataImage, records: list[Any]) -> MetadataImage:
    delta = MetadataDelta(image)
    for i, record in enumerate(records):
        delta.replay(record, image.offset + 1 + i)
    return delta.apply()


def cluster(*parts: tuple[list[int], list[int], int], fenced: tuple[int, ...] = (),
            configs: dict[str, str] | None = None) -> MetadataImage:
    """Brokers 1-3 (``fenced`` ones fenced) and topic "t" with the given
    (replicas, isr, leader) partitions."""
    records: list[Any] = [
        RegisterBrokerRecord(broker_id=b, broker_epoch=b, fenced=b in fenced) for b in (1, 2, 3)]
    records.append(TopicRecord(name="t", topic_id=T))
    for name, value in (configs or {}).items():
        records.append(ConfigRecord(resource_type=2, resource_name="t", name=name, value=value))
    for i, (replicas, isr, leader) in enumerate(parts):
        records.append(PartitionRecord(partition_id=i, topic_id=T, replicas=replicas, isr=isr,
                                       leader=leader, leader_epoch=0, partition_epoch=0))
    return replay(EMPTY_IMAGE, records)


def fence(image: MetadataImage, broker: int) -> MetadataImage:
    return replay(image, [BrokerRegistrationChangeRecord(broker_id=broker, broker_epoch=broker,
                                                         fenced=1)])


def part(image: MetadataImage, index: int = 0) -> PartitionRegistration:
    return image.topics.by_name["t"].partitions[index]


def test_fenced_leader_is_replaced_from_the_isr_in_assignment_order_with_a_new_epoch() -> None:
    image = cluster(([1, 2, 3], [3, 2, 1], 1))
    records = plan_broker_fenced(image, 1)
    after = replay(fence(image, 1), records)
    p = part(after)
    assert (p.leader, p.isr, p.leader_epoch, p.partition_epoch) == (2, (3, 2), 1, 1)


def test_fenced_follower_leaves_the_isr_without_a_leader_epoch_bump() -> None:
    image = cluster(([1, 2, 3], [1, 2, 3], 1))
    p = part(replay(image, plan_broker_fenced(image, 3)))
    assert (p.leader, p.isr, p.leader_epoch, p.partition_epoch) == (1, (1, 2), 0, 1)


def test_fenced_brokers_outside_the_partition_change_nothing() -> None:
    image = cluster(([1, 2], [1, 2], 1))
    assert plan_broker_fenced(image, 3) == []


def test_the_isr_never_becomes_empty_and_the_partition_goes_offline() -> None:
    image = cluster(([1, 2, 3], [1], 1))
    p = part(replay(image, plan_broker_fenced(image, 1)))
    assert (p.leader, p.isr) == (-1, (1,))


def test_a_fenced_isr_member_is_not_elected() -> None:
    image = cluster(([1, 2, 3], [1, 2], 1), fenced=(2,))
    p = part(replay(image, plan_broker_fenced(image, 1)))
    assert (p.leader, p.isr) == (-1, (2,))


def test_unclean_election_enabled_for_the_topic_elects_the_first_live_replica() -> None:
    image = cluster(([1, 2, 3], [1], 1), configs={"unclean.leader.election.enable": "true"})
    p = part(replay(image, plan_broker_fenced(image, 1)))
    assert (p.leader, p.isr, p.leader_epoch) == (2, (2,), 1)


def test_unclean_election_by_the_broker_default_and_overridden_by_the_topic() -> None:
    image = cluster(([1, 2, 3], [1], 1))
    assert part(replay(image, plan_broker_fenced(image, 1, unclean_default=True))).leader == 2
    image = cluster(([1, 2, 3], [1], 1), configs={"unclean.leader.election.enable": "false"})
    assert part(replay(image, plan_broker_fenced(image, 1, unclean_default=True))).leader == -1


def test_unfenced_broker_leads_the_offline_partitions_whose_isr_holds_it_and_joins_no_isr() -> None:
    image = cluster(([1, 2, 3], [1], -1), ([2, 1, 3], [2], -1), ([1, 2, 3], [1, 2], 2),
                    fenced=(1, 2))
    image = replay(image, [BrokerRegistrationChangeRecord(broker_id=1, broker_epoch=1,
                                                          fenced=-1)])
    after = replay(image, plan_broker_unfenced(image, 1))
    assert (part(after, 0).leader, part(after, 0).isr, part(after, 0).leader_epoch) == (1, (1,), 1)
    assert (part(after, 1).leader, part(after, 1).isr) == (-1, (2,))
    assert (part(after, 2).leader, part(after, 2).isr) == (2, (1, 2))


def test_preferred_election_moves_leadership_back_and_answers_per_partition() -> None:
    image = cluster(([1, 2, 3], [1, 2, 3], 2), ([1, 2, 3], [2, 3], 2), ([1, 2], [1, 2], 1))
    targets = [("t", 0), ("t", 1), ("t", 2), ("t", 9), ("nope", 0)]
    results, records = plan_elections(image, Election.PREFERRED, targets)
    assert [r.error for r in results] == [
        ErrorCode.NONE, ErrorCode.PREFERRED_LEADER_NOT_AVAILABLE, ErrorCode.ELECTION_NOT_NEEDED,
        ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION]
    after = replay(image, records)
    assert (part(after, 0).leader, part(after, 0).leader_epoch) == (1, 1)
    assert part(after, 1).leader == 2


def test_election_of_every_partition_leaves_out_those_that_need_none() -> None:
    image = cluster(([1, 2, 3], [1, 2, 3], 2), ([1, 2], [1, 2], 1))
    results, _ = plan_elections(image, Election.PREFERRED, None)
    assert [(r.partition, r.error) for r in results] == [(0, ErrorCode.NONE)]


def test_unclean_election_gives_an_offline_partition_any_live_replica() -> None:
    image = cluster(([1, 2, 3], [1], -1), ([1, 2, 3], [1, 2, 3], 1), ([1, 3], [1], -1),
                    fenced=(1, 3))
    results, records = plan_elections(image, Election.UNCLEAN, [("t", 0), ("t", 1), ("t", 2)])
    assert [r.error for r in results] == [
        ErrorCode.NONE, ErrorCode.ELECTION_NOT_NEEDED, ErrorCode.ELIGIBLE_LEADERS_NOT_AVAILABLE]
    p = part(replay(image, records))
    assert (p.leader, p.isr) == (2, (2,))


def test_controlled_shutdown_moves_leadership_and_shrinks_isrs_but_never_uncleanly() -> None:
    image = cluster(([1, 2, 3], [1, 2, 3], 1), ([2, 1], [2, 1], 2), ([1, 2], [1], 1),
                    configs={"unclean.leader.election.enable": "true"})
    after = replay(image, plan_controlled_shutdown(image, 1))
    assert (part(after, 0).leader, part(after, 0).isr) == (2, (2, 3))
    assert (part(after, 1).leader, part(after, 1).isr) == (2, (2,))
    assert (part(after, 2).leader, part(after, 2).isr) == (-1, (1,))


def test_a_broker_in_controlled_shutdown_is_not_elected_when_another_is_fenced() -> None:
    image = cluster(([1, 2, 3], [1, 2, 3], 1))
    p = part(replay(image, plan_broker_fenced(image, 1, shutting_down={2})))
    assert p.leader == 3


def test_auto_rebalance_acts_only_past_the_imbalance_percentage() -> None:
    # Broker 1 is preferred for 4 partitions and leads 3 of them: 25 % imbalanced.
    parts = [([1, 2], [1, 2], 1)] * 3 + [([1, 2], [1, 2], 2)]
    image = cluster(*parts)
    assert plan_leader_rebalance(image, 25) == []
    records = plan_leader_rebalance(image, 10)
    assert part(replay(image, records), 3).leader == 1
    # The preferred replica out of the ISR, or fenced, is not elected.
    image = cluster(([1, 2], [2], 2), ([3, 2], [3, 2], 2), fenced=(3,))
    assert plan_leader_rebalance(image, 0) == []


def test_a_record_naming_the_same_leader_starts_a_new_epoch_as_kafka_replays_it() -> None:
    image = cluster(([1, 2], [1, 2], 1))
    after = replay(image, [PartitionChangeRecord(partition_id=0, topic_id=T, leader=1)])
    assert (part(after).leader, part(after).leader_epoch, part(after).partition_epoch) == (1, 1, 1)
    after = replay(after, [PartitionChangeRecord(partition_id=0, topic_id=T, isr=[1])])
    assert (part(after).leader_epoch, part(after).partition_epoch) == (1, 2)


# -- through the controller, over a real local metadata log ------------------------------

def controller(tmp_path: Path) -> QuorumController:
    raft = LocalRaftClient(tmp_path, SYSTEM_CLOCK.now_ms())
    c = QuorumController(raft, SYSTEM_CLOCK, Rng(7), default_partitions=1,
                         default_replication_factor=3)
    c.load()
    for b in (1, 2, 3):
        asyncio.run(c.register_broker(b, bytes([b]) * 16,
                                      [BrokerEndpointSpec("PLAINTEXT", "h", 9000 + b, 0)],
                                      rack=None))
    return c


def test_controller_fences_elects_unfences_and_survives_a_restart(tmp_path: Path) -> None:
    c = controller(tmp_path)
    [t] = asyncio.run(c.create_topics([TopicSpec("r", -1, -1, {0: [1, 2, 3]})], False))
    assert isinstance(t, CreatedTopic)
    asyncio.run(c.fence_broker(1))
    p = c.image.topics.by_name["r"].partitions[0]
    assert (p.leader, p.isr, p.leader_epoch) == (2, (2, 3), 1)
    asyncio.run(c.fence_broker(2))
    asyncio.run(c.fence_broker(3))
    p = c.image.topics.by_name["r"].partitions[0]
    assert (p.leader, p.isr) == (-1, (3,))
    asyncio.run(c.register_broker(3, b"\x09" * 16, [BrokerEndpointSpec("PLAINTEXT", "h", 9003, 0)],
                                  rack=None))
    p = c.image.topics.by_name["r"].partitions[0]
    assert (p.leader, p.isr, p.leader_epoch) == (3, (3,), 4)
    assert c.raft is not None
    c.raft.close()
    again = QuorumController(LocalRaftClient(tmp_path, SYSTEM_CLOCK.now_ms()), SYSTEM_CLOCK,
                             Rng(7), 1, 3)
    again.load()
    assert again.image.topics.by_name["r"].partitions[0] == p


def test_controller_controlled_shutdown_and_preferred_election(tmp_path: Path) -> None:
    c = controller(tmp_path)
    asyncio.run(c.create_topics([TopicSpec("r", -1, -1, {0: [1, 2, 3], 1: [2, 1, 3]})], False))
    assert asyncio.run(_error_of(c.controlled_shutdown(1, -1))) == ErrorCode.STALE_BROKER_EPOCH
    assert c.image.topics.by_name["r"].partitions[0].leader == 1
    assert asyncio.run(c.controlled_shutdown(1, c.image.cluster.brokers[1].broker_epoch)) is True
    parts = c.image.topics.by_name["r"].partitions
    assert (parts[0].leader, parts[0].isr) == (2, (2, 3))
    assert (parts[1].leader, parts[1].isr) == (2, (2, 3))
    # Not elected while shutting down, even by a preferred election.
    [r] = asyncio.run(c.elect_leaders(0, [("r", 0)]))
    assert r.error == ErrorCode.PREFERRED_LEADER_NOT_AVAILABLE
    stale = asyncio.run(_error_of(c.controlled_shutdown(2, 99)))
    assert stale == ErrorCode.STALE_BROKER_EPOCH
    # Back (a new registration), in the ISR again (as AlterPartition will do), then preferred.
    asyncio.run(c.register_broker(1, b"\x08" * 16, [BrokerEndpointSpec("PLAINTEXT", "h", 1, 0)],
                                  rack=None))
    asyncio.run(c._commit([PartitionChangeRecord(
        partition_id=0, topic_id=c.image.topics.by_name["r"].topic_id, isr=[2, 3, 1])]))
    [r] = asyncio.run(c.elect_leaders(0, [("r", 0)]))
    assert r.error == ErrorCode.NONE
    assert c.image.topics.by_name["r"].partitions[0].leader == 1
    assert asyncio.run(c.rebalance_leaders(10)) == 0


async def _error_of(call: Any) -> ErrorCode | None:
    from brook.metadata.controller.replication_control import ControllerError
    try:
        await call
    except ControllerError as exc:
        return exc.code
    return None


def test_a_new_partition_is_led_by_its_first_unfenced_replica(tmp_path: Path) -> None:
    c = controller(tmp_path)
    asyncio.run(c.fence_broker(1))
    [t] = asyncio.run(c.create_topics([TopicSpec("m", -1, -1, {0: [1, 2, 3]})], False))
    assert isinstance(t, CreatedTopic)
    p = c.image.topics.by_name["m"].partitions[0]
    assert (p.replicas, p.isr, p.leader) == ((1, 2, 3), (2, 3), 2)
    asyncio.run(c.fence_broker(2))
    asyncio.run(c.fence_broker(3))
    [err] = asyncio.run(c.create_topics([TopicSpec("n", -1, -1, {0: [1, 2]})], False))
    assert not isinstance(err, CreatedTopic) and err.code == ErrorCode.INVALID_REPLICA_ASSIGNMENT


def test_a_new_controller_elects_leaders_for_partitions_a_registered_broker_can_lead(
        tmp_path: Path) -> None:
    """A term that ended between a fence and its elections leaves a partition offline although
    an ISR member is registered; the next controller, reading the registrations, elects it."""
    c = controller(tmp_path)
    [t] = asyncio.run(c.create_topics([TopicSpec("r", -1, -1, {0: [1, 2]})], False))
    assert isinstance(t, CreatedTopic)
    asyncio.run(c._commit([PartitionChangeRecord(partition_id=0, topic_id=t.topic_id,
                                                 leader=-1)]))
    asyncio.run(c.register_broker(2, bytes([2]) * 16,
                                  [BrokerEndpointSpec("PLAINTEXT", "h", 9002, 0)], rack=None))
    assert c.image.topics.by_name["r"].partitions[0].leader == 1
