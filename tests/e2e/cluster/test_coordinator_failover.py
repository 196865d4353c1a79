"""The group coordinator moves with the leadership of its ``__consumer_offsets`` partition, on
a real cluster (etcd and three brokers), and committed offsets survive the loss of a broker.

The coordinator of a group is the leader of the offsets partition the group hashes to. When
that leadership moves — the leader killed with -9, a preferred election bringing it back, the
leader stopped with SIGTERM — the new leader loads the group's state from its own replica of
the partition and answers for it: every broker's FindCoordinator names it, OffsetFetch at it
returns what was committed, the broker that lost the leadership answers NOT_COORDINATOR, and a
new consumer in the group resumes from the committed offsets.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, ElectionType, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from brook.broker.inter_broker_client import InterBrokerClient, InterBrokerError
from brook.connect.runtime.kafka_log import KafkaLog
from brook.connect.runtime.worker_config import WorkerConfig
from brook.coordinator.group.group_coordinator_service import partition_for
from brook.protocol.errors import ErrorCode
from brook.protocol.messages.find_coordinator import (
    FindCoordinatorRequest,
    FindCoordinatorResponse,
)
from brook.protocol.messages.offset_fetch import OffsetFetchRequest, OffsetFetchResponse
from tests.support.brokers import BrokerProcess, plain_broker
from tests.support.etcd import EtcdServer, etcd_fixture

pytestmark = pytest.mark.timeout(300)  # several brokers started and stopped on a shared machine

CLUSTER_ID = "brook-e2e-coordinator-failover"
OFFSETS = "__consumer_offsets"
TOPIC = "orders"
GROUP = "resumers"


@pytest.fixture(name="etcd")
def fixture_etcd(tmp_path: Path) -> Iterator[EtcdServer]:
    server = etcd_fixture(tmp_path)
    yield server
    server.stop()


@pytest.fixture(name="cluster")
def fixture_cluster(tmp_path: Path, etcd: EtcdServer) -> Iterator[dict[int, BrokerProcess]]:
    brokers: dict[int, BrokerProcess] = {}
    try:
        for node_id, rack in ((1, "az1"), (2, "az2"), (3, "az3")):
            b = plain_broker(tmp_path / f"b{node_id}" / "data", node_id=node_id, overrides={
                "metadata.store": f"etcd://{etcd.endpoint}", "cluster.id": CLUSTER_ID,
                "broker.rack": rack, "broker.session.timeout.ms": "3000",
                "replica.fetch.backoff.ms": "200", "offsets.topic.num.partitions": "5",
            })
            b.start()
            brokers[node_id] = b
        yield brokers
    finally:
        for b in brokers.values():
            b.stop()


def _eventually(check: Callable[[], Any], timeout: float = 45.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
        except (InterBrokerError, OSError):
            result = None
        if result:
            return result
        assert time.monotonic() < deadline, f"not within {timeout}s"
        time.sleep(0.3)


def _bootstrap(cluster: dict[int, BrokerProcess]) -> str:
    return ",".join(b.bootstrap for b in cluster.values() if b.alive())


def _ask(b: BrokerProcess, request: Any, version: int, response_type: type[Any]) -> Any:
    async def go() -> Any:
        client = InterBrokerClient("127.0.0.1", b.port, "coordinator-probe")
        try:
            return await client.send(request, version, response_type)
        finally:
            client.close()
    return asyncio.run(go())


def _coordinator_from(b: BrokerProcess) -> int:
    r = _ask(b, FindCoordinatorRequest(key=GROUP, key_type=0), 3, FindCoordinatorResponse)
    return r.node_id if r.error_code == ErrorCode.NONE else -1


def _committed_at(b: BrokerProcess) -> tuple[int, int]:
    """``(error code, committed offset of TOPIC-0)`` of an OffsetFetch v7 sent to ``b``."""
    request = OffsetFetchRequest(group_id=GROUP, topics=[
        OffsetFetchRequest.OffsetFetchRequestTopic(name=TOPIC, partition_indexes=[0])])
    r = _ask(b, request, 7, OffsetFetchResponse)
    if r.error_code != ErrorCode.NONE:
        return r.error_code, -1
    return ErrorCode.NONE, r.topics[0].partitions[0].committed_offset


def _offsets_partition(cluster: dict[int, BrokerProcess]) -> Any:
    admin = AdminClient({"bootstrap.servers": _bootstrap(cluster), "socket.timeout.ms": 5000})
    index = partition_for(GROUP, 5)
    topic = admin.list_topics(OFFSETS, timeout=10).topics.get(OFFSETS)
    # None while the broker asked has not applied the topic's creation yet: ask again.
    return topic.partitions.get(index) if topic is not None else None


def _serving(cluster: dict[int, BrokerProcess], expect_offset: int,
             not_node: int | None = None) -> int:
    """The coordinator every live broker names once it answers ``expect_offset``."""
    def check() -> int | None:
        named = {_coordinator_from(b) for b in cluster.values() if b.alive()}
        if len(named) != 1:
            return None
        node = named.pop()
        if node not in cluster or node == not_node or not cluster[node].alive():
            return None
        return node if _committed_at(cluster[node]) == (ErrorCode.NONE, expect_offset) else None
    node: int = _eventually(check)
    return node


def _commit(cluster: dict[int, BrokerProcess], offset: int) -> None:
    c = Consumer({"bootstrap.servers": _bootstrap(cluster), "group.id": GROUP,
                  "enable.auto.commit": False})
    try:
        c.commit(offsets=[TopicPartition(TOPIC, 0, offset)], asynchronous=False)
    finally:
        c.close()


def _resume(cluster: dict[int, BrokerProcess]) -> int:
    """The first offset a new member of the group reads."""
    c = Consumer({"bootstrap.servers": _bootstrap(cluster), "group.id": GROUP,
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    try:
        c.subscribe([TOPIC])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            msg = c.poll(0.5)
            if msg is not None and msg.error() is None:
                return int(msg.offset())
        raise AssertionError("the new member read nothing")
    finally:
        c.close()


def _full_isr(cluster: dict[int, BrokerProcess]) -> Any:
    part = _offsets_partition(cluster)
    return part if part is not None and part.leader in cluster and len(part.isrs) == 3 else None


def test_the_coordinator_follows_its_partition_and_offsets_survive(
    cluster: dict[int, BrokerProcess],
) -> None:
    admin = AdminClient({"bootstrap.servers": _bootstrap(cluster), "socket.timeout.ms": 5000})
    admin.create_topics([NewTopic(TOPIC, 1, 3)], operation_timeout=10)[TOPIC].result(20)
    producer = Producer({"bootstrap.servers": _bootstrap(cluster), "acks": "all"})
    for i in range(100):
        producer.produce(TOPIC, value=b"%d" % i, partition=0)
    assert producer.flush(40) == 0

    _commit(cluster, 1)  # creates the offsets topic (replication factor min(3, brokers))
    first = _eventually(lambda: _full_isr(cluster))
    assert len(first.replicas) == 3
    _commit(cluster, 60)  # acknowledged once every in-sync replica has it
    old = _serving(cluster, 60)
    assert old == first.leader

    # kill -9 the coordinator: another replica leads the partition and loads the group.
    cluster[old].kill()
    new = _serving(cluster, 60, not_node=old)
    assert _resume(cluster) == 60
    _commit(cluster, 80)

    # It comes back, catches up as a follower, and a preferred election moves the
    # leadership (and the group) back to it; the interim coordinator unloads the group.
    cluster[old].start()
    _eventually(lambda: _full_isr(cluster))
    partition = TopicPartition(OFFSETS, partition_for(GROUP, 5))
    admin = AdminClient({"bootstrap.servers": _bootstrap(cluster), "socket.timeout.ms": 5000})
    result = admin.elect_leaders(ElectionType.PREFERRED, [partition]).result(30)
    assert all(err is None for err in result.values()), result
    assert _serving(cluster, 80) == old
    assert _committed_at(cluster[new]) == (ErrorCode.NOT_COORDINATOR, -1)

    # SIGTERM: the stopping leader hands the partition over before it exits.
    _eventually(lambda: _full_isr(cluster))
    cluster[old].stop()
    assert _serving(cluster, 80, not_node=old) != old
    assert _resume(cluster) == 80


def test_connect_topics_are_replicated_on_three_brokers(cluster: dict[int, BrokerProcess]) -> None:
    """A worker with default settings creates its topics with replication factor min(3,
    brokers); the offsets topic of the brokers' own coordinator has it too."""
    worker = WorkerConfig({"bootstrap.servers": _bootstrap(cluster), "group.id": "connect"})
    admin = AdminClient({"bootstrap.servers": _bootstrap(cluster), "socket.timeout.ms": 5000})
    for kind in ("config", "offset", "status"):
        name = worker.get(f"{kind}.storage.topic")
        KafkaLog(worker.client_conf(), name, 1,
                 int(worker.get(f"{kind}.storage.replication.factor"))).close()
        part = admin.list_topics(name, timeout=10).topics[name].partitions[0]
        assert len(part.replicas) == 3, (name, part.replicas)
    _eventually(lambda: _coordinator_from(cluster[1]) in cluster)  # creates the offsets topic
    assert len(_eventually(lambda: _offsets_partition(cluster)).replicas) == 3
