"""Replication throttles on three brokers sharing their metadata through a real etcd, set the
way ``kafka-reassign-partitions.sh --throttle`` and ``kafka-configs.sh`` set them (dynamic
broker rates, per broker or ``--entity-default``, and the topics' throttled-replica lists):

* a reassignment adding a replica of a partition holding 1.5 MiB, with a 200 KiB/s follower
  throttle on the receiving broker, takes about the time the rate implies, while another
  partition moved at the same time to a broker whose throttle does not name it completes in
  a fraction of it;
* a leader throttle from the cluster default holds a move back until the rate is deleted,
  after which the move completes at once.

Bounds are generous (a loaded machine slows the unthrottled copy, never speeds the throttled
one): the throttled move must take at least 60% of the time its bytes imply at the rate."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
)

from brook.broker.inter_broker_client import InterBrokerClient
from brook.protocol.messages.incremental_alter_configs import (
    IncrementalAlterConfigsRequest,
    IncrementalAlterConfigsResponse,
)
from tests.support.brokers import BrokerProcess, plain_broker
from tests.support.etcd import etcd_fixture

CLUSTER_ID = "brook-e2e-throttle"
RATE = 200 * 1024
PAYLOAD = 1536 * 1024
FETCH_MAX = 64 * 1024
pytestmark = pytest.mark.timeout(180)


@pytest.fixture(name="cluster")
def fixture_cluster(tmp_path: Path) -> Iterator[list[BrokerProcess]]:
    etcd = etcd_fixture(tmp_path)
    brokers: list[BrokerProcess] = []
    try:
        for node_id in (1, 2, 3):
            b = plain_broker(tmp_path / f"b{node_id}" / "data", node_id=node_id, overrides={
                "metadata.store": f"etcd://{etcd.endpoint}", "cluster.id": CLUSTER_ID,
                "auto.leader.rebalance.enable": "false",
                # A follower asks for 64 KiB per partition, so the quota hands out many
                # shares rather than one first megabyte (the rate is the same either way).
                "replica.fetch.max.bytes": str(FETCH_MAX),
            })
            b.start()
            brokers.append(b)
        yield brokers
    finally:
        for b in brokers:
            b.stop()
        etcd.stop()


def _eventually(check: Callable[[], Any], timeout: float = 30.0, step: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {check}")
        time.sleep(step)


def _admin(cluster: list[BrokerProcess]) -> AdminClient:
    return AdminClient({"bootstrap.servers": ",".join(b.bootstrap for b in cluster),
                        "socket.timeout.ms": 10000})


def _set(admin: AdminClient, resource: ConfigResource, key: str, value: str | None) -> None:
    op = AlterConfigOpType.SET if value is not None else AlterConfigOpType.DELETE
    resource.add_incremental_config(ConfigEntry(key, value or "", incremental_operation=op))
    for future in admin.incremental_alter_configs([resource]).values():
        future.result(30)


def _set_default(broker: BrokerProcess, key: str, value: str | None) -> None:
    """``kafka-configs.sh --alter --entity-type brokers --entity-default``: the broker named
    "" on the wire, which neither Python client can send, so the request is written here."""
    op = IncrementalAlterConfigsRequest.AlterableConfig(key, 0 if value is not None else 1,
                                                        value)
    request = IncrementalAlterConfigsRequest(resources=[
        IncrementalAlterConfigsRequest.AlterConfigsResource(4, "", [op])])

    async def send() -> IncrementalAlterConfigsResponse:
        client = InterBrokerClient("127.0.0.1", broker.port, "test-configs")
        try:
            return await client.send(request, 1, IncrementalAlterConfigsResponse)
        finally:
            client.close()

    [answer] = asyncio.run(send()).responses
    assert answer.error_code == 0, answer.error_message


def _create(cluster: list[BrokerProcess], topic: str, partitions: int) -> None:
    admin = _admin(cluster)
    admin.create_topics([NewTopic(topic, num_partitions=partitions,
                                  replica_assignment=[[1]] * partitions)],
                        operation_timeout=10)[topic].result(30)
    _eventually(lambda: all(p.leader == 1 for p in admin.list_topics(topic, timeout=10)
                            .topics[topic].partitions.values()))
    producer = Producer({"bootstrap.servers": cluster[0].bootstrap, "acks": "all",
                         "linger.ms": 5, "batch.size": 32768, "compression.type": "none"})
    value = b"x" * 1024
    for partition in range(partitions):
        for _ in range(PAYLOAD // len(value)):
            producer.produce(topic, value, partition=partition)
            producer.poll(0)
    assert producer.flush(60) == 0


class _Mover:
    """kafka-python's admin client: confluent-kafka has no reassignment API."""

    def __init__(self, cluster: list[BrokerProcess]) -> None:
        from kafka.admin import KafkaAdminClient

        self.admin = KafkaAdminClient(bootstrap_servers=[b.bootstrap for b in cluster],
                                      request_timeout_ms=30000)

    def move(self, topic: str, targets: dict[int, list[int]]) -> dict[int, float]:
        """Start the moves; return each partition's start time."""
        from kafka import TopicPartition as KTopicPartition

        answers = self.admin.alter_partition_reassignments(
            {KTopicPartition(topic, p): r for p, r in targets.items()})
        assert all(a is None for a in answers.values()), answers
        now = time.monotonic()
        return {p: now for p in targets}

    def ongoing(self, topic: str) -> set[int]:
        return {tp.partition for tp in self.admin.list_partition_reassignments()
                if tp.topic == topic}

    def close(self) -> None:
        self.admin.close()


def test_a_follower_throttle_paces_a_reassignment_and_spares_the_partitions_it_does_not_name(
    cluster: list[BrokerProcess],
) -> None:
    _create(cluster, "paced", 2)
    admin = _admin(cluster)
    for broker in ("2", "3"):
        _set(admin, ConfigResource("broker", broker), "follower.replication.throttled.rate",
             str(RATE))
    # Partition 0 is throttled on broker 2, its new replica; partition 1 goes to broker 3,
    # which has the same rate but is not named for it.
    _set(admin, ConfigResource("topic", "paced"), "follower.replication.throttled.replicas",
         "0:2")
    mover = _Mover(cluster)
    try:
        started = mover.move("paced", {0: [1, 2], 1: [1, 3]})[0]
        done: dict[int, float] = {}

        def finished() -> bool:
            ongoing = mover.ongoing("paced")
            for p in (0, 1):
                if p not in ongoing and p not in done:
                    done[p] = time.monotonic() - started
            return len(done) == 2

        _eventually(finished, timeout=60)
    finally:
        mover.close()
    implied = (PAYLOAD - FETCH_MAX) / RATE
    print(f"throttled move {done[0]:.1f} s (rate implies {implied:.1f} s), "
          f"unthrottled {done[1]:.1f} s")
    assert done[0] >= 0.6 * implied
    assert done[0] <= 3 * implied + 10
    assert done[1] <= 0.5 * done[0]
    md = admin.list_topics("paced", timeout=10).topics["paced"].partitions
    assert sorted(md[0].isrs) == [1, 2] and sorted(md[1].isrs) == [1, 3]


def test_a_default_leader_throttle_holds_a_move_until_the_rate_is_deleted(
    cluster: list[BrokerProcess],
) -> None:
    _create(cluster, "lifted", 1)
    admin = _admin(cluster)
    default = "leader.replication.throttled.rate"
    _set_default(cluster[1], default, str(RATE))
    # The leader's list names the broker that sends.
    _set(admin, ConfigResource("topic", "lifted"), "leader.replication.throttled.replicas",
         "0:1")
    mover = _Mover(cluster)
    try:
        mover.move("lifted", {0: [1, 2]})
        time.sleep(2.5)
        assert mover.ongoing("lifted") == {0}  # at 200 KiB/s, 1.5 MiB takes about 7 s
        _set_default(cluster[2], default, None)
        lifted = time.monotonic()
        _eventually(lambda: not mover.ongoing("lifted"), timeout=30)
        after = time.monotonic() - lifted
    finally:
        mover.close()
    print(f"completed {after:.1f} s after the rate was deleted")
    assert after < 0.5 * PAYLOAD / RATE
