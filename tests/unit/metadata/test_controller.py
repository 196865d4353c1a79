"""The controller over a real local metadata log: validation, records, replay after restart."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from brook.env import SYSTEM_CLOCK, Rng
from brook.metadata.controller.configuration_control import OP_APPEND, OP_DELETE, ConfigOp
from brook.metadata.controller.quorum_controller import BrokerEndpointSpec, QuorumController
from brook.metadata.controller.replication_control import ControllerError, CreatedTopic, TopicSpec
from brook.metadata.image import RESOURCE_TOPIC
from brook.protocol.errors import ErrorCode
from brook.raft.local import LocalRaftClient


def make(tmp_path: Path, brokers: int = 1) -> QuorumController:
    raft = LocalRaftClient(tmp_path, SYSTEM_CLOCK.now_ms())
    c = QuorumController(raft, SYSTEM_CLOCK, Rng(7), default_partitions=1,
                         default_replication_factor=1)
    c.load()
    for b in range(1, brokers + 1):
        asyncio.run(c.register_broker(b, bytes(16), [BrokerEndpointSpec("PLAINTEXT", "h", 9000 + b, 0)],
                                      rack=f"az-{b % 2}"))
    return c


def test_create_topic_then_replay_after_restart(tmp_path: Path) -> None:
    c = make(tmp_path)
    [res] = asyncio.run(c.create_topics([TopicSpec("orders", 3, 1, configs={"retention.ms": "1000"})],
                                        validate_only=False))
    assert isinstance(res, CreatedTopic) and res.num_partitions == 3
    c.raft.close()
    again = QuorumController(LocalRaftClient(tmp_path, SYSTEM_CLOCK.now_ms()), SYSTEM_CLOCK, Rng(1), 1, 1)
    image = again.load()
    topic = image.topics.get("orders")
    assert topic is not None and topic.topic_id == res.topic_id
    assert sorted(topic.partitions) == [0, 1, 2]
    assert all(p.leader == 1 and p.isr == (1,) for p in topic.partitions.values())
    assert image.configs.topic_config("orders") == {"retention.ms": "1000"}
    assert 1 in image.cluster.brokers


@pytest.mark.parametrize(
    "spec, code",
    [
        (TopicSpec("bad name!"), ErrorCode.INVALID_TOPIC_EXCEPTION),
        (TopicSpec("x" * 250), ErrorCode.INVALID_TOPIC_EXCEPTION),
        (TopicSpec(".."), ErrorCode.INVALID_TOPIC_EXCEPTION),
        (TopicSpec("t", 0, 1), ErrorCode.INVALID_PARTITIONS),
        (TopicSpec("t", 1, 0), ErrorCode.INVALID_REPLICATION_FACTOR),
        (TopicSpec("t", 1, 2), ErrorCode.INVALID_REPLICATION_FACTOR),
        (TopicSpec("t", configs={"retention.ms": "soon"}), ErrorCode.INVALID_CONFIG),
        (TopicSpec("t", configs={"no.such.key": "1"}), ErrorCode.INVALID_CONFIG),
        (TopicSpec("t", 2, 1, assignments={0: [1]}), ErrorCode.INVALID_REQUEST),
        (TopicSpec("t", assignments={0: [5]}), ErrorCode.INVALID_REPLICA_ASSIGNMENT),
        (TopicSpec("t", 2**31 - 1, 1), ErrorCode.POLICY_VIOLATION),
    ],
)
def test_invalid_creations_get_kafka_error_codes(tmp_path: Path, spec: TopicSpec, code: ErrorCode) -> None:
    c = make(tmp_path)
    [res] = asyncio.run(c.create_topics([spec], validate_only=False))
    assert isinstance(res, ControllerError)
    assert res.code == code, res.message
    assert not c.image.topics.by_name


def test_exists_collision_validate_only_and_delete(tmp_path: Path) -> None:
    c = make(tmp_path)
    asyncio.run(c.create_topics([TopicSpec("a.b")], validate_only=False))
    dup, collide, dry = asyncio.run(c.create_topics(
        [TopicSpec("a.b"), TopicSpec("a_b"), TopicSpec("fresh")], validate_only=True))
    assert isinstance(dup, ControllerError) and dup.code == ErrorCode.TOPIC_ALREADY_EXISTS
    assert isinstance(collide, ControllerError) and collide.code == ErrorCode.INVALID_TOPIC_EXCEPTION
    assert isinstance(dry, CreatedTopic) and "fresh" not in c.image.topics.by_name
    [(name, _, err)] = asyncio.run(c.delete_topics([("a.b", None)]))
    assert name == "a.b" and err is None and not c.image.topics.by_name
    [(_, _, err)] = asyncio.run(c.delete_topics([("a.b", None)]))
    assert err is not None and err.code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION


def test_replicas_spread_over_racks(tmp_path: Path) -> None:
    c = make(tmp_path, brokers=4)
    [res] = asyncio.run(c.create_topics([TopicSpec("t", 4, 2)], validate_only=False))
    assert isinstance(res, CreatedTopic)
    topic = c.image.topics.get("t")
    assert topic is not None
    racks = {b.broker_id: b.rack for b in c.image.cluster.brokers.values()}
    leaders = set()
    for reg in topic.partitions.values():
        assert len(set(reg.replicas)) == 2
        assert racks[reg.replicas[0]] != racks[reg.replicas[1]]
        leaders.add(reg.leader)
    assert len(leaders) == 4


def test_partitions_configs_and_producer_ids(tmp_path: Path) -> None:
    c = make(tmp_path)
    asyncio.run(c.create_topics([TopicSpec("t", 1, 1)], validate_only=False))
    [err] = asyncio.run(c.create_partitions([("t", 1, None)], validate_only=False))
    assert err is not None and err.code == ErrorCode.INVALID_PARTITIONS
    [err] = asyncio.run(c.create_partitions([("t", 3, None)], validate_only=False))
    assert err is None and len(c.image.topics.by_name["t"].partitions) == 3
    [err] = asyncio.run(c.alter_configs(
        [(RESOURCE_TOPIC, "t", [ConfigOp("cleanup.policy", "compact", OP_APPEND)])], False, True))
    assert err is None
    assert c.image.configs.topic_config("t")["cleanup.policy"] == "delete,compact"
    [err] = asyncio.run(c.alter_configs(
        [(RESOURCE_TOPIC, "t", [ConfigOp("cleanup.policy", None, OP_DELETE)])], False, True))
    assert err is None and "cleanup.policy" not in c.image.configs.topic_config("t")
    first = asyncio.run(c.allocate_producer_ids(1))
    second = asyncio.run(c.allocate_producer_ids(1))
    assert second[0] == first[0] + first[1]
